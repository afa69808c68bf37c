import { createHash } from "node:crypto";
import {
  deriveLockPassword,
  deriveReportKey,
  encodeLockKeys,
  encodeStatus,
  keyPairFromSeed,
  sealReport,
  Topics,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";

const seed = (label: string, lockId: string) =>
  new Uint8Array(createHash("sha256").update(`${label}\0${lockId}`).digest());

/**
 * The report key the bench locks seal with: derived with a cloud key of the bench's own, not the cloud's (its key is
 * named only in a signed state, and these locks are never claimed). The bridge cannot tell (it holds no report key),
 * so it carries them exactly as a real lock's; the cloud answers them `unclaimed`, which ends them in the outbox all
 * the same. The benchmarks measure the bridge: broker → outbox → upload → verdicts.
 */
const BENCH_CLOUD_KEY = {
  id: new Uint8Array([0xbe, 0x0c]),
  x: x25519KeyPairFromSeed(seed("cloud", "bench")).publicKey,
};

/**
 * Minimal lock clients for the benchmarks: mqtt.js plus protocol codecs, no firmware. Each logs in with its derived
 * password, publishes its public keys (retained) and reports itself online, subscribes to its state and commands, and
 * publishes sealed reports (events, telemetry) with a bounded window in flight.
 */
export class BenchLock {
  client!: MqttClient;
  seq = 0;
  ctr = 0;
  readonly topics: Topics;
  private readonly identity: Uint8Array;
  private readonly x25519: { privateKey: Uint8Array; publicKey: Uint8Array };
  private reportKey: Uint8Array | null = null;

  constructor(
    readonly lockId: string,
    private readonly url: string,
    private readonly siteSecret: string,
    prefix?: string,
  ) {
    this.topics = new Topics(prefix);
    this.identity = keyPairFromSeed(seed("identity", lockId)).publicKey;
    this.x25519 = x25519KeyPairFromSeed(seed("x25519", lockId));
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
    if (options.status !== false) {
      const keys = encodeLockKeys({ lock: this.lockId, identity: this.identity, x25519: this.x25519.publicKey });
      await this.client.publishAsync(this.topics.lock(this.lockId, "keys"), Buffer.from(keys), {
        qos: 1,
        retain: true,
      });
      await this.client.publishAsync(this.topics.lock(this.lockId, "status"), Buffer.from(encodeStatus("online")), {
        qos: 1,
        retain: true,
      });
    }
    if (options.subscribe !== false)
      await this.client.subscribeAsync([this.topics.lock(this.lockId, "state"), this.topics.lock(this.lockId, "cmd")], {
        qos: 1,
      });
  }

  private key(): Uint8Array {
    this.reportKey ??= deriveReportKey({
      lockId: this.lockId,
      cloudKeyId: BENCH_CLOUD_KEY.id,
      lockPrivate: this.x25519.privateKey,
      peerPublic: BENCH_CLOUD_KEY.x,
    });
    return this.reportKey;
  }

  telemetry(): Promise<unknown> {
    const report = sealReport({
      kind: "telemetry",
      telemetry: { lock: this.lockId, ts: Math.floor(Date.now() / 1000), level: 90, mv: 3000, state: "ok" },
      key: this.key(),
      cloudKeyId: BENCH_CLOUD_KEY.id,
      ctr: ++this.ctr,
    });
    return this.client.publishAsync(this.topics.lock(this.lockId, "telemetry"), Buffer.from(report), { qos: 1 });
  }

  eventPayload(): Buffer {
    const seq = ++this.seq;
    const id = Buffer.alloc(16);
    id.writeUInt32BE(seq, 0);
    id.write(this.lockId.slice(-12), 4, "latin1");
    const event = {
      id,
      lock: this.lockId,
      seq,
      ts: Math.floor(Date.now() / 1000),
      type: "denied" as const,
      code: "malformed",
    };
    return Buffer.from(
      sealReport({ kind: "event", event, key: this.key(), cloudKeyId: BENCH_CLOUD_KEY.id, ctr: ++this.ctr }),
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
