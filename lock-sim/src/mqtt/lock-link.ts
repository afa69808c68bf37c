import {
  type CommandResult,
  decodeCommand,
  decodeStrict,
  encodeCommandResult,
  encodeEvent,
  encodeStatus,
  encodeTelemetry,
  type LockEvent,
  type Telemetry,
  type Topics,
} from "@latchkey/protocol";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "pino";
import type { LockFirmware, Uplink } from "../lock/firmware.js";

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
  reconnectPeriodMs?: number;
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  logger: Logger;
}

/**
 * The lock's MQTT session (docs/design.md section 3, docs/mqtt.md): a persistent session (clean: false, client id = lock id)
 * so the broker keeps its subscriptions and queued `sync`/`cmd` while it is away; last will `offline` and `online` on
 * every connect, both retained; everything QoS 1. An event leaves the flash ring buffer only when the broker's PUBACK
 * for it arrives. Events the broker has not acknowledged are re-published in seq order after every (re)connect:
 * those mqtt.js still holds in flight it re-sends itself, the rest this link publishes.
 */
export class MqttLockLink implements Uplink {
  readonly inFlight = new Set<number>();
  private readonly client: MqttClient;
  private readonly statusTopic: string;
  private readonly eventsTopic: string;
  private readonly telemetryTopic: string;
  private readonly syncTopic: string;
  private readonly cmdTopic: string;
  private readonly resultTopic: string;
  private subscribed = false;
  /** Events wait in flash for the window: new ones must not overtake them. */
  private backlog = false;
  private closed = false;
  private connectCount = 0;
  private lastError: Error | null = null;

  constructor(
    private readonly firmware: LockFirmware,
    private readonly options: MqttLinkOptions,
  ) {
    const t = options.topics;
    const id = options.lockId;
    this.statusTopic = t.lock(id, "status");
    this.eventsTopic = t.lock(id, "events");
    this.telemetryTopic = t.lock(id, "telemetry");
    this.syncTopic = t.lock(id, "sync");
    this.cmdTopic = t.lock(id, "cmd");
    this.resultTopic = t.lock(id, "cmd/result");
    const clientOptions: IClientOptions = {
      clientId: id,
      username: id,
      clean: false,
      protocolVersion: 4,
      keepalive: options.keepaliveSeconds ?? 30,
      reconnectPeriod: options.reconnectPeriodMs ?? 1000,
      // A refused CONNACK (a bridge shutting down, a broker restarting) must not end the lock's reporting for good:
      // mqtt.js stops reconnecting after one unless told otherwise, and a lock has no one to restart it.
      reconnectOnConnackError: true,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      resubscribe: true,
      queueQoSZero: false,
      will: { topic: this.statusTopic, payload: Buffer.from(encodeStatus("offline")), qos: 1, retain: true },
    };
    if (options.password !== undefined) clientOptions.password = options.password;
    this.client = mqtt.connect(options.url, clientOptions);
    this.client.on("connect", (connack) => this.onConnect(connack.sessionPresent));
    this.client.on("message", (topic, payload) => this.onMessage(topic, payload));
    this.client.on("close", () => firmware.emit("change"));
    this.client.on("error", (err) => {
      this.lastError = err;
      options.logger.warn({ lock: id, err: err.message }, "mqtt error");
      firmware.emit("change");
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** How many times the session has been (re)established. */
  get connections(): number {
    return this.connectCount;
  }

  get error(): Error | null {
    return this.lastError;
  }

  private onConnect(sessionPresent: boolean): void {
    if (this.closed) return;
    this.connectCount++;
    this.lastError = null;
    const log = this.options.logger;
    log.debug({ lock: this.options.lockId, sessionPresent }, "mqtt connected");
    this.client.publish(this.statusTopic, Buffer.from(encodeStatus("online")), { qos: 1, retain: true });
    if (!this.subscribed) {
      // Later reconnects are covered by mqtt.js (resubscribe) or by the broker's stored session.
      this.subscribed = true;
      this.client.subscribe([this.syncTopic, this.cmdTopic], { qos: 1 }, (err, granted) => {
        if (err) log.warn({ lock: this.options.lockId, err: err.message }, "mqtt subscribe failed");
        for (const g of granted ?? []) {
          if (g.qos === 128) log.error({ lock: this.options.lockId, topic: g.topic }, "broker refused subscription");
        }
      });
    }
    this.publishBuffered();
    this.firmware.reportTelemetry();
    this.firmware.emit("change");
  }

  /** A new event (already in flash): sent now, unless older ones wait for the window (then those go first). */
  publishEvent(event: LockEvent): void {
    if (this.closed || !this.client.connected || this.inFlight.has(event.seq)) return;
    if (this.backlog || this.inFlight.size >= MAX_EVENTS_IN_FLIGHT) this.publishBuffered();
    else this.send(event);
  }

  private send(event: LockEvent): void {
    this.inFlight.add(event.seq);
    this.client.publish(this.eventsTopic, Buffer.from(encodeEvent(event)), { qos: 1 }, (err) => {
      this.inFlight.delete(event.seq);
      if (this.closed) return;
      if (err === undefined || err === null) {
        this.firmware.flash.ackEvent(event.seq);
        this.publishBuffered();
      } else {
        // Still in flash: it goes again, before anything newer, at the next chance.
        this.backlog = true;
      }
      this.firmware.emit("change");
    });
  }

  /** Publishes the oldest buffered events not in flight, in seq order, up to the window. */
  private publishBuffered(): void {
    if (this.closed || !this.client.connected) return;
    this.backlog = false;
    for (const event of this.firmware.flash.eventsAfter(-1, MAX_EVENTS_IN_FLIGHT * 2)) {
      if (this.inFlight.size >= MAX_EVENTS_IN_FLIGHT) {
        this.backlog = true;
        return;
      }
      if (!this.inFlight.has(event.seq)) this.send(event);
    }
  }

  publishTelemetry(telemetry: Telemetry): void {
    // Telemetry is a reading, not history: while offline there is nothing to queue, a fresh one goes out on connect.
    if (this.closed || !this.client.connected) return;
    this.client.publish(this.telemetryTopic, Buffer.from(encodeTelemetry(telemetry)), { qos: 1 });
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (this.closed) return;
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    if (topic === this.syncTopic) {
      this.firmware.onSyncBytes(bytes);
    } else if (topic === this.cmdTopic) {
      const result = this.runCommand(bytes);
      this.client.publish(this.resultTopic, Buffer.from(encodeCommandResult(result)), { qos: 1 });
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
        this.client.publish(this.statusTopic, Buffer.from(encodeStatus("offline")), { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.closed = true;
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
