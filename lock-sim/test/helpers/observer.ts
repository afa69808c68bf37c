import {
  type Command,
  type CommandResult,
  decodeCommandResult,
  decodeEvent,
  decodeTelemetry,
  encodeCommand,
  encodeSync,
  type LockEvent,
  type SyncMessage,
  type Telemetry,
  Topics,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";
import { BRIDGE_PASSWORD, BRIDGE_USER } from "./broker.js";

/** The bridge's side of the broker, for tests: sees everything locks publish, sends `sync` and `cmd`. */
export class Observer {
  readonly events: LockEvent[] = [];
  readonly telemetry: Telemetry[] = [];
  readonly status = new Map<string, string>();
  readonly statusHistory: { lock: string; status: string; retain: boolean }[] = [];
  private readonly results = new Map<string, CommandResult>();
  private readonly waiters = new Set<() => void>();
  private counter = 0;

  private constructor(
    readonly client: MqttClient,
    readonly topics: Topics,
  ) {
    client.on("message", (topic, payload, packet) => {
      const parsed = topics.parse(topic);
      if (parsed?.scope !== "lock") return;
      const bytes = new Uint8Array(payload);
      if (parsed.kind === "events") this.events.push(decodeEvent(bytes));
      if (parsed.kind === "telemetry") this.telemetry.push(decodeTelemetry(bytes));
      if (parsed.kind === "status") {
        this.status.set(parsed.lockId, payload.toString());
        this.statusHistory.push({ lock: parsed.lockId, status: payload.toString(), retain: packet.retain });
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

  async sync(lockId: string, sync: SyncMessage | Uint8Array): Promise<void> {
    const payload = sync instanceof Uint8Array ? sync : encodeSync(sync);
    await this.client.publishAsync(this.topics.lock(lockId, "sync"), Buffer.from(payload), { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
