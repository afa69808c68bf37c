import {
  type Command,
  type CommandResult,
  decodeCommandResult,
  decodeLockKeys,
  encodeCommand,
  type LockEvent,
  type LockKeysMessage,
  peekReport,
  type Telemetry,
  Topics,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";
import { BRIDGE_PASSWORD, BRIDGE_USER } from "./broker.js";
import type { TestCloud } from "./cloud.js";

/** A sealed report as the bridge received it: the raw bytes, and what a courier may peek of them (unauthenticated). */
export interface SeenReport {
  lock: string;
  ctr: number;
  kind: "event" | "telemetry";
  /** The event's seq (events only). */
  seq?: number;
  bytes: Uint8Array;
}

/**
 * The bridge's side of the broker, for tests: sees everything locks publish (reports are peeked, as a courier can,
 * without the key), publishes `state` (retained), `time/answer` and `cmd`. With `relay(cloud)` it also does what the
 * bridge does for the cloud: every report to the cloud's ingest, every time request answered.
 */
export class Observer {
  readonly events: LockEvent[] = [];
  readonly telemetry: Telemetry[] = [];
  readonly reports: SeenReport[] = [];
  readonly keys = new Map<string, { message: LockKeysMessage; retain: boolean }>();
  readonly timeRequests: { lock: string; bytes: Uint8Array }[] = [];
  readonly status = new Map<string, string>();
  readonly statusHistory: { lock: string; status: string; retain: boolean }[] = [];
  private readonly results = new Map<string, CommandResult>();
  private readonly waiters = new Set<() => void>();
  private cloud: TestCloud | undefined;
  private answerTime = true;
  private counter = 0;

  private constructor(
    readonly client: MqttClient,
    readonly topics: Topics,
  ) {
    client.on("message", (topic, payload, packet) => {
      const parsed = topics.parse(topic);
      if (parsed?.scope !== "lock") return;
      const bytes = new Uint8Array(payload);
      const lock = parsed.lockId;
      if (parsed.kind === "events" || parsed.kind === "telemetry") {
        const peeked = peekReport(bytes, lock);
        const seen: SeenReport = { lock, ctr: peeked.ctr, kind: peeked.kind, bytes };
        if (peeked.kind === "event") seen.seq = peeked.event.seq;
        this.reports.push(seen);
        if (peeked.kind === "event") this.events.push(peeked.event);
        else this.telemetry.push(peeked.telemetry);
        this.cloud?.receive(lock, bytes);
      }
      if (parsed.kind === "keys") this.keys.set(lock, { message: decodeLockKeys(bytes), retain: packet.retain });
      if (parsed.kind === "time/request") {
        this.timeRequests.push({ lock, bytes });
        const cloud = this.cloud;
        if (cloud !== undefined && this.answerTime) void this.publish(lock, "time/answer", cloud.answerTime(bytes));
      }
      if (parsed.kind === "status") {
        this.status.set(lock, payload.toString());
        this.statusHistory.push({ lock, status: payload.toString(), retain: packet.retain });
      }
      if (parsed.kind === "cmd/result") {
        const r = decodeCommandResult(bytes);
        this.results.set(r.id, r);
      }
      for (const w of [...this.waiters]) w();
    });
  }

  static async connect(url: string, prefix?: string): Promise<Observer> {
    const topics = new Topics(prefix);
    const client = await mqtt.connectAsync(url, {
      clientId: `observer-${process.pid}-${Math.random().toString(16).slice(2)}`,
      username: BRIDGE_USER,
      password: BRIDGE_PASSWORD,
      reconnectPeriod: 100,
    });
    await client.subscribeAsync(`${topics.prefix}/locks/#`, { qos: 1 });
    return new Observer(client, topics);
  }

  /**
   * Relays for `cloud` as the bridge does: every report to its ingest (`TestCloud.receive`), and every time request
   * answered on `time/answer` unless `answerTime` is false.
   */
  relay(cloud: TestCloud, options: { answerTime?: boolean } = {}): this {
    this.cloud = cloud;
    this.answerTime = options.answerTime ?? true;
    return this;
  }

  /** Resolves when `check` answers something other than undefined, re-checked on each message. */
  waitFor<T>(check: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
    const first = check();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(onMessage);
        reject(new Error(`observer timed out waiting for ${what}`));
      }, timeoutMs);
      const onMessage = () => {
        const v = check();
        if (v === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(onMessage);
        resolve(v);
      };
      this.waiters.add(onMessage);
    });
  }

  waitForEvent(lockId: string, match: (e: LockEvent) => boolean, what = "an event"): Promise<LockEvent> {
    return this.waitFor(() => this.events.find((e) => e.lock === lockId && match(e)), `${what} from ${lockId}`);
  }

  waitForStatus(lockId: string, status: "online" | "offline"): Promise<true> {
    return this.waitFor(() => (this.status.get(lockId) === status ? true : undefined), `${lockId} ${status}`);
  }

  nextId(): string {
    return `obs-${++this.counter}`;
  }

  /** Sends a command on the lock's `cmd` topic and waits for its result. */
  async command(lockId: string, cmd: Command): Promise<CommandResult> {
    await this.client.publishAsync(this.topics.lock(lockId, "cmd"), Buffer.from(encodeCommand(cmd)), { qos: 1 });
    return this.waitFor(() => this.results.get(cmd.id), `the result of ${cmd.type} ${cmd.id}`);
  }

  async commandRaw(lockId: string, bytes: Uint8Array, id: string): Promise<CommandResult> {
    await this.client.publishAsync(this.topics.lock(lockId, "cmd"), Buffer.from(bytes), { qos: 1 });
    return this.waitFor(() => this.results.get(id), `the result of ${id}`);
  }

  /** Publishes a signed state retained on the lock's `state` topic, as the bridge relays it. */
  async publishState(lockId: string, state: Uint8Array): Promise<void> {
    await this.client.publishAsync(this.topics.lock(lockId, "state"), Buffer.from(state), { qos: 1, retain: true });
  }

  async publish(lockId: string, kind: "state" | "time/answer", payload: Uint8Array): Promise<void> {
    await this.client.publishAsync(this.topics.lock(lockId, kind), Buffer.from(payload), { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
