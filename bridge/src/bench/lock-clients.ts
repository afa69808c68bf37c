import {
  decodeSync,
  deriveLockPassword,
  encodeEvent,
  encodeStatus,
  encodeTelemetry,
  type SyncMessage,
  Topics,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";

/**
 * Minimal lock clients for the benchmarks: mqtt.js plus protocol codecs, no firmware. Each logs in with its derived
 * password, reports itself online, subscribes to its sync, and can publish events with a bounded window in flight.
 */
export class BenchLock {
  client!: MqttClient;
  seq = 0;
  readonly topics: Topics;
  /** What a lock does with a sync; by default, like firmware, it reports the new version (telemetry with `v`). */
  onSync: ((sync: SyncMessage) => void) | null = (sync) => {
    if (sync.v > this.v) {
      this.v = sync.v;
      void this.telemetry(sync.v);
    }
  };
  v = 0;

  constructor(
    readonly lockId: string,
    private readonly url: string,
    private readonly siteSecret: string,
    prefix?: string,
  ) {
    this.topics = new Topics(prefix);
  }

  async connect(options: { subscribe?: boolean; status?: boolean } = {}): Promise<void> {
    this.client = await mqtt.connectAsync(this.url, {
      clientId: this.lockId,
      username: this.lockId,
      password: deriveLockPassword(this.siteSecret, this.lockId),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 120,
      will: { topic: this.topics.lock(this.lockId, "status"), payload: Buffer.from("offline"), qos: 1, retain: true },
    });
    this.client.on("message", (topic, payload) => {
      if (topic === this.topics.lock(this.lockId, "sync")) this.onSync?.(decodeSync(payload));
    });
    if (options.status !== false)
      await this.client.publishAsync(this.topics.lock(this.lockId, "status"), Buffer.from(encodeStatus("online")), {
        qos: 1,
        retain: true,
      });
    if (options.subscribe !== false)
      await this.client.subscribeAsync([this.topics.lock(this.lockId, "sync"), this.topics.lock(this.lockId, "cmd")], {
        qos: 1,
      });
  }

  telemetry(v?: number): Promise<unknown> {
    const t = encodeTelemetry({
      lock: this.lockId,
      ts: Math.floor(Date.now() / 1000),
      level: 90,
      mv: 3000,
      state: "ok",
      ...(v ? { v } : {}),
    });
    return this.client.publishAsync(this.topics.lock(this.lockId, "telemetry"), Buffer.from(t), { qos: 1 });
  }

  eventPayload(): Buffer {
    const seq = ++this.seq;
    const id = Buffer.alloc(16);
    id.writeUInt32BE(seq, 0);
    id.write(this.lockId.slice(-12), 4, "latin1");
    return Buffer.from(
      encodeEvent({ id, lock: this.lockId, seq, ts: Math.floor(Date.now() / 1000), type: "denied", code: "malformed" }),
    );
  }

  /** Publishes `count` events QoS 1 keeping at most `window` unacknowledged; resolves when all are acknowledged. */
  async publishEvents(count: number, window: number, topic = this.topics.lock(this.lockId, "events")): Promise<void> {
    let sent = 0;
    const worker = async () => {
      while (sent < count) {
        sent++;
        await this.client.publishAsync(topic, this.eventPayload(), { qos: 1 });
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true);
  }
}

export async function connectAll(
  locks: BenchLock[],
  options: { subscribe?: boolean } = {},
  parallel = 50,
): Promise<void> {
  for (let i = 0; i < locks.length; i += parallel) {
    await Promise.all(locks.slice(i, i + parallel).map((l) => l.connect(options)));
  }
}

export const benchLockIds = (count: number, prefix = "bench-lock") =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(4, "0")}`);
