import { createHash } from "node:crypto";
import { deriveLockPassword, encodeEvent, encodeStatus, Topics } from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";

/**
 * A light lock for load: an mqtt.js client that logs in as a lock (client id = username = lock id, password derived
 * from the site secret), reports `online`, subscribes to its `sync` and `cmd` like firmware does, and publishes
 * protocol-encoded events QoS 1 with a bounded window in flight. No flash, no verification: the bench measures the
 * bridge and the cloud, not a thousand firmware simulations in the harness.
 */
export class LoadLock {
  client: MqttClient | null = null;
  seq = 0;
  /** Events the broker acknowledged (PUBACK). */
  acked = 0;
  readonly topics = new Topics();

  constructor(
    readonly lockId: string,
    private readonly url: string,
    /** null: a broker without logins (the raw aedes baseline). */
    private readonly siteSecret: string | null,
    /** Keeps event ids unique across runs that share a cloud. */
    private readonly runTag: string,
  ) {}

  async connect(options: { asLock: boolean }): Promise<void> {
    const status = this.topics.lock(this.lockId, "status");
    this.client = await mqtt.connectAsync(this.url, {
      clientId: this.lockId,
      ...(this.siteSecret === null
        ? {}
        : { username: this.lockId, password: deriveLockPassword(this.siteSecret, this.lockId) }),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 120,
      ...(options.asLock ? { will: { topic: status, payload: Buffer.from("offline"), qos: 1, retain: true } } : {}),
    });
    if (!options.asLock) return;
    await this.client.publishAsync(status, Buffer.from(encodeStatus("online")), { qos: 1, retain: true });
    await this.client.subscribeAsync([this.topics.lock(this.lockId, "sync"), this.topics.lock(this.lockId, "cmd")], {
      qos: 1,
    });
  }

  /** The id of this lock's event `seq`: a pure function, so the bench can list what must arrive. */
  eventId(seq: number): Buffer {
    return createHash("sha256").update(`${this.runTag}/${this.lockId}/${seq}`).digest().subarray(0, 16);
  }

  private nextEvent(): Buffer {
    const seq = ++this.seq;
    const ts = Math.floor(Date.now() / 1000);
    return Buffer.from(
      encodeEvent({ id: this.eventId(seq), lock: this.lockId, seq, ts, type: "denied", code: "expired" }),
    );
  }

  /**
   * Publishes events QoS 1, at most `window` unacknowledged, until `count` were sent or `deadline` (performance.now())
   * passed; resolves when every one sent is acknowledged.
   */
  async publish(options: { window: number; count?: number; deadline?: number; topic?: string }): Promise<void> {
    const client = this.client;
    if (!client) throw new Error(`${this.lockId}: not connected`);
    const topic = options.topic ?? this.topics.lock(this.lockId, "events");
    const count = options.count ?? Number.POSITIVE_INFINITY;
    const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
    let sent = 0;
    const slot = async () => {
      while (sent < count && performance.now() < deadline) {
        sent++;
        await client.publishAsync(topic, this.nextEvent(), { qos: 1 });
        this.acked++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.window, count)) }, slot));
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true).catch(() => {});
    this.client = null;
  }
}

export const lockIds = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(4, "0")}`);

/** Connects locks 50 at a time (a site's locks do not all dial in the same millisecond either). */
export async function connectLocks(locks: LoadLock[], asLock: boolean): Promise<void> {
  for (let i = 0; i < locks.length; i += 50)
    await Promise.all(locks.slice(i, i + 50).map((l) => l.connect({ asLock })));
}

export const totalAcked = (locks: LoadLock[]) => locks.reduce((n, l) => n + l.acked, 0);
