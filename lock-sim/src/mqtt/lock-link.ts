import {
  type Clock,
  type CommandResult,
  decodeCommand,
  decodeStrict,
  encodeCommandResult,
  encodeLockKeys,
  encodeStatus,
  type Topics,
} from "@latchkey/protocol";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "pino";
import type { LockFirmware, Uplink } from "../lock/firmware.js";
import { type RandomSource, systemRandom } from "../random.js";
import { reconnectDelayMs } from "./reconnect-delay.js";

/**
 * Events handed to the broker at once, like the small send window of real lock firmware. The rest wait in flash and
 * go out, in seq order, as PUBACKs come back: the ring buffer may drop only events not in flight, so this keeps some
 * it may drop when the broker is slow to acknowledge.
 */
export const MAX_EVENTS_IN_FLIGHT = 16;

export interface MqttLinkOptions {
  url: string;
  lockId: string;
  /** The lock's broker password (docs/mqtt.md: derived from the site secret). */
  password?: string;
  topics: Topics;
  /** The lock's local millisecond counter, for the re-send rule. */
  localClock: Clock;
  /** An event PUBACKed but still above the signed ack this long after is re-sealed and published again. */
  resendMs: number;
  /** The wait before the first attempt after a drop (default 1000 ms), ±50 %; each failed attempt doubles it. */
  reconnectPeriodMs?: number;
  /** The longest wait between attempts (default 30 s, or the period when that is longer). */
  reconnectMaxMs?: number;
  /** The spread of the reconnect waits (the lock's random source). */
  random?: RandomSource;
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  logger: Logger;
}

/**
 * The lock's MQTT session (docs/design.md section 7, docs/trust.md "Lock"): a persistent session (clean: false, client
 * id = lock id); last will `offline` and `online` on every connect, both retained; everything QoS 1.
 *
 * - At every connect it publishes its public keys retained on `keys` (the bridge attaches them to the lock's reports
 *   for the cloud, which believes them only when they match the setup code).
 * - It subscribes to its own `state` (retained: the latest signed state reaches it at every subscription), `cmd` and
 *   `time/answer`, and publishes `time/request` when the firmware asks.
 * - Events and telemetry go out as sealed reports (lock/reports.ts), sealed the moment they are handed to the client,
 *   so the counters leave in order. A PUBACK frees nothing: only the signed `ack` of a state does. Every event in the
 *   ring is re-sealed (a new counter) and published again at each (re)connect, and one PUBACKed `resendMs` ago that
 *   is still in the ring: the cloud stores events by id, so a re-send is harmless, whereas the same bytes again after
 *   a higher counter would be refused as `replayed`. What mqtt.js still holds in flight at a reconnect it re-sends
 *   itself, before `connect` is emitted, so those old counters also leave before the new ones.
 */
export class MqttLockLink implements Uplink {
  readonly inFlight = new Set<number>();
  private readonly client: MqttClient;
  private readonly topic: {
    status: string;
    keys: string;
    events: string;
    telemetry: string;
    state: string;
    cmd: string;
    result: string;
    timeRequest: string;
    timeAnswer: string;
  };
  /** Event seqs to (re)publish, ascending. */
  private pending: number[] = [];
  private readonly queued = new Set<number>();
  /** Events PUBACKed in this session: seq → local ms of the PUBACK (the re-send rule counts from it). */
  private readonly delivered = new Map<number, number>();
  private subscribed = false;
  private sessionReady = false;
  private closed = false;
  private connectCount = 0;
  private reconnectAttempts = 0;
  private lastError: Error | null = null;

  constructor(
    private readonly firmware: LockFirmware,
    private readonly options: MqttLinkOptions,
  ) {
    const t = options.topics;
    const id = options.lockId;
    this.topic = {
      status: t.lock(id, "status"),
      keys: t.lock(id, "keys"),
      events: t.lock(id, "events"),
      telemetry: t.lock(id, "telemetry"),
      state: t.lock(id, "state"),
      cmd: t.lock(id, "cmd"),
      result: t.lock(id, "cmd/result"),
      timeRequest: t.lock(id, "time/request"),
      timeAnswer: t.lock(id, "time/answer"),
    };
    const clientOptions: IClientOptions = {
      clientId: id,
      username: id,
      clean: false,
      protocolVersion: 4,
      keepalive: options.keepaliveSeconds ?? 30,
      reconnectPeriod: this.reconnectDelay(0),
      // A refused CONNACK (a bridge shutting down, a broker restarting) must not end the lock's reporting for good:
      // mqtt.js stops reconnecting after one unless told otherwise, and a lock has no one to restart it.
      reconnectOnConnackError: true,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      resubscribe: true,
      queueQoSZero: false,
      will: { topic: this.topic.status, payload: Buffer.from(encodeStatus("offline")), qos: 1, retain: true },
    };
    if (options.password !== undefined) clientOptions.password = options.password;
    this.client = mqtt.connect(options.url, clientOptions);
    this.client.on("connect", (connack) => {
      this.reconnectAttempts = 0;
      this.client.options.reconnectPeriod = this.reconnectDelay(0);
      this.onConnect(connack.sessionPresent);
    });
    // mqtt.js reads the period each time it schedules an attempt: an attempt starting sets the wait after it fails.
    this.client.on("reconnect", () => {
      this.reconnectAttempts++;
      this.client.options.reconnectPeriod = this.reconnectDelay(this.reconnectAttempts);
    });
    this.client.on("message", (topic, payload) => this.onMessage(topic, payload));
    this.client.on("close", () => {
      // Whatever the broker took, all of it goes again under new counters at the next connect.
      this.sessionReady = false;
      this.delivered.clear();
      firmware.emit("change");
    });
    this.client.on("error", (err) => {
      this.lastError = err;
      options.logger.warn({ lock: id, err: err.message }, "mqtt error");
      firmware.emit("change");
    });
  }

  /** The wait before attempt `attempt + 1` (`reconnectDelayMs`); 0 keeps mqtt.js's "never reconnect". */
  private reconnectDelay(attempt: number): number {
    const period = this.options.reconnectPeriodMs ?? 1000;
    if (period === 0) return 0;
    const max = this.options.reconnectMaxMs ?? Math.max(30_000, period);
    return reconnectDelayMs(attempt, period, max, this.options.random ?? systemRandom);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  get ready(): boolean {
    return this.sessionReady && this.client.connected && !this.closed;
  }

  /** How many times the session has been (re)established. */
  get connections(): number {
    return this.connectCount;
  }

  get error(): Error | null {
    return this.lastError;
  }

  /**
   * Events in the ring not PUBACKed in this session (waiting for a report key, the window, the broker, or due again).
   * `delivered` holds only events still in the ring: the ack and the ring's drops take theirs out.
   */
  get undelivered(): number {
    return this.firmware.flash.bufferedCount() - this.delivered.size;
  }

  private onConnect(sessionPresent: boolean): void {
    if (this.closed) return;
    this.connectCount++;
    this.lastError = null;
    const log = this.options.logger;
    log.debug({ lock: this.options.lockId, sessionPresent }, "mqtt connected");
    this.client.publish(this.topic.status, Buffer.from(encodeStatus("online")), { qos: 1, retain: true });
    const keys = this.firmware.publicKeys;
    const keysMessage = encodeLockKeys({ lock: this.options.lockId, identity: keys.identity, x25519: keys.x25519 });
    this.client.publish(this.topic.keys, Buffer.from(keysMessage), { qos: 1, retain: true });
    if (!this.subscribed) {
      // Later reconnects are covered by mqtt.js (resubscribe) or by the broker's stored session.
      this.subscribed = true;
      const topics = [this.topic.state, this.topic.cmd, this.topic.timeAnswer];
      this.client.subscribe(topics, { qos: 1 }, (err, granted) => {
        if (err) log.warn({ lock: this.options.lockId, err: err.message }, "mqtt subscribe failed");
        for (const g of granted ?? []) {
          if (g.qos === 128) log.error({ lock: this.options.lockId, topic: g.topic }, "broker refused subscription");
        }
      });
    }
    // Every event still in the ring goes again under a new counter (see the class comment).
    this.delivered.clear();
    this.pending = [];
    this.queued.clear();
    for (const event of this.firmware.flash.eventsAfter(-1)) this.enqueue(event.seq);
    this.sessionReady = true;
    this.firmware.uplinkReady();
    this.publishPending();
    this.firmware.emit("change");
  }

  eventAdded(seq: number, dropped: readonly number[]): void {
    for (const gone of dropped) this.delivered.delete(gone);
    this.enqueue(seq);
    this.publishPending();
  }

  stateApplied(): void {
    // A state may bring the first report key (events waited for it) or free events through its ack.
    const freed = this.firmware.engine.freeableThrough;
    for (const seq of this.delivered.keys()) if (seq <= freed) this.delivered.delete(seq);
    this.publishPending();
  }

  telemetryChanged(): void {
    // Telemetry is a reading, not history: while offline nothing is queued; a fresh reading goes out on connect.
    if (!this.ready) return;
    const sealed = this.firmware.reports.sealTelemetry();
    if (sealed === undefined) return;
    this.client.publish(this.topic.telemetry, Buffer.from(sealed.report), { qos: 1 });
  }

  publishTimeRequest(request: Uint8Array): void {
    if (!this.ready) return;
    this.client.publish(this.topic.timeRequest, Buffer.from(request), { qos: 1 });
  }

  /** Events PUBACKed `resendMs` ago and still in the ring go again. */
  poll(): void {
    if (!this.ready) return;
    const now = this.options.localClock.now();
    let due = false;
    for (const [seq, at] of this.delivered) {
      if (now - at < this.options.resendMs) continue;
      this.delivered.delete(seq);
      if (this.firmware.flash.storedAt(seq) === undefined) continue;
      this.enqueue(seq);
      due = true;
    }
    if (due) this.publishPending();
  }

  private enqueue(seq: number): void {
    if (this.queued.has(seq)) return;
    this.queued.add(seq);
    // Mostly appended in order; a re-send may go before newer ones.
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]! > seq) i--;
    this.pending.splice(i, 0, seq);
  }

  /** Seals and publishes the oldest pending events, up to the window; nothing without a report key. */
  private publishPending(): void {
    if (!this.ready || !this.firmware.reports.canSeal) return;
    while (this.pending.length > 0 && this.inFlight.size < MAX_EVENTS_IN_FLIGHT) {
      const seq = this.pending.shift()!;
      this.queued.delete(seq);
      if (this.inFlight.has(seq)) continue;
      const stored = this.firmware.flash.storedAt(seq);
      if (stored === undefined) continue; // freed by the ack, or dropped by the ring
      const sealed = this.firmware.reports.sealEvent(stored.event);
      if (sealed === undefined) {
        this.enqueue(seq);
        return;
      }
      this.send(seq, sealed.report);
    }
  }

  private send(seq: number, report: Uint8Array): void {
    this.inFlight.add(seq);
    this.client.publish(this.topic.events, Buffer.from(report), { qos: 1 }, (err) => {
      this.inFlight.delete(seq);
      if (this.closed) return;
      // A PUBACK of mqtt.js's own re-send of its store, before `connect`, counts for nothing: onConnect sends every
      // event again anyway.
      if (!this.sessionReady) return;
      if (err === undefined || err === null) {
        if (this.firmware.flash.storedAt(seq) !== undefined) this.delivered.set(seq, this.options.localClock.now());
        this.publishPending();
      } else {
        // Still in flash: it goes again, under a new counter, at the next chance.
        this.enqueue(seq);
      }
      this.firmware.emit("change");
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (this.closed) return;
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    const log = this.options.logger;
    const lock = this.options.lockId;
    if (topic === this.topic.state) {
      if (bytes.length === 0) return; // the bridge clearing its retained copy: nothing to apply
      const verdict = this.firmware.applyState(bytes);
      // The retained state comes again at every subscription: the same v again is expected, not an attack.
      if (!verdict.ok) {
        const level = verdict.code === "stale_version" ? "debug" : "warn";
        log[level]({ lock, code: verdict.code, reason: verdict.message }, "signed state refused");
      }
    } else if (topic === this.topic.timeAnswer) {
      const verdict = this.firmware.applyTimeAnswer(bytes);
      if (!verdict.ok) log.warn({ lock, code: verdict.code, reason: verdict.message }, "time answer refused");
    } else if (topic === this.topic.cmd) {
      const result = this.runCommand(bytes);
      this.client.publish(this.topic.result, Buffer.from(encodeCommandResult(result)), { qos: 1 });
    }
  }

  private runCommand(bytes: Uint8Array): CommandResult {
    try {
      return this.firmware.handleCommand(decodeCommand(bytes));
    } catch (e) {
      return { id: commandIdOf(bytes), ok: false, code: "invalid_command", message: (e as Error).message };
    }
  }

  /** Clean stop: `offline` (retained) and a DISCONNECT, so the broker does not fire the will. */
  async stop(): Promise<void> {
    if (this.closed) return;
    if (this.client.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        this.client.publish(this.topic.status, Buffer.from(encodeStatus("offline")), { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.closed = true;
    this.sessionReady = false;
    // A broker that has stopped reading (stuck, or partitioned) never closes the socket: give it a moment, then cut.
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.client.endAsync().then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), 2000);
      }),
    ]);
    clearTimeout(timer);
    if (!ended) this.client.end(true);
  }

  /** Power loss: the connection just dies (no DISCONNECT), so the broker publishes the will. */
  kill(): void {
    if (this.closed) return;
    this.closed = true;
    this.sessionReady = false;
    this.client.end(true);
  }

  /** Test hook: drop the TCP connection as a network fault would; mqtt.js reconnects on its own. */
  dropConnection(): void {
    this.client.stream?.destroy();
  }
}

const COMMAND_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The id of a command that failed validation, when it has a usable one, so the sender can match the refusal. */
export function commandIdOf(bytes: Uint8Array): string {
  try {
    const map = decodeStrict(bytes, { maxBytes: 1 << 20 });
    const id = map instanceof Map ? map.get("id") : undefined;
    return typeof id === "string" && COMMAND_ID.test(id) ? id : "unknown";
  } catch {
    return "unknown";
  }
}
