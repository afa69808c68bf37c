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
/**
 * How a bench lock redials, as firmware does: a connect that fails (refused, reset, closed before its setup was
 * acknowledged) is retried on a new connection after an exponential backoff with jitter, up to `attempts` times.
 */
export const CONNECT_RETRY = { attempts: 8, firstDelayMs: 250, maxDelayMs: 8_000 } as const;

/** The backoff before retry `attempt` (1-based): doubling from firstDelayMs, capped, with a jitter of ±50 % that is a
 * pure function of the lock and the attempt (no shared RNG, so a run is repeatable and the locks do not redial in step). */
export function connectBackoffMs(lockId: string, attempt: number): number {
  const base = Math.min(CONNECT_RETRY.maxDelayMs, CONNECT_RETRY.firstDelayMs * 2 ** (attempt - 1));
  const jitter = createHash("sha256").update(`${lockId}\0${attempt}`).digest().readUInt16BE(0) / 0xffff;
  return Math.round(base * (0.5 + jitter));
}

/**
 * Minimal lock clients for the benchmarks: mqtt.js plus protocol codecs, no firmware. Each logs in with its derived
 * password, publishes its public keys (retained) and reports itself online, subscribes to its state and commands, and
 * publishes sealed reports (events, telemetry) with a bounded window in flight. Like a real lock it does not give up on
 * a failed connect: it redials with backoff (`CONNECT_RETRY`), and a connection lost after its setup is dialled again
 * the same way; both are counted (`retries`, `drops`) for the bench to report.
 */
export class BenchLock {
  client!: MqttClient;
  seq = 0;
  ctr = 0;
  /** Connect attempts that failed and were retried after a backoff. */
  retries = 0;
  /** Connections lost after their setup completed (then dialled again in the background). */
  drops = 0;
  /** Why attempts failed or connections were lost (the first few). */
  readonly failures: string[] = [];
  readonly topics: Topics;
  private readonly identity: Uint8Array;
  private readonly x25519: { privateKey: Uint8Array; publicKey: Uint8Array };
  private reportKey: Uint8Array | null = null;
  /**
   * Whether a connection lost after its setup is dialled again (as a lock does). A bench that takes the broker away
   * on purpose and dials every lock itself (the reconnect storm) turns it off first.
   */
  redialOnDrop = true;
  /** Bumped by connect() and close(): a redial loop of an older call stops, so two never race for one client id. */
  private generation = 0;

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

  /** Connects and sets up (keys, status, subscriptions), redialling with backoff until it worked or attempts ran out. */
  async connect(options: { subscribe?: boolean; status?: boolean } = {}): Promise<void> {
    const generation = ++this.generation;
    this.redialOnDrop = true;
    const stale = () => generation !== this.generation;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.connectOnce(options);
        return;
      } catch (e) {
        const message = (e as Error).message;
        if (stale()) throw e;
        if (attempt >= CONNECT_RETRY.attempts)
          throw new Error(`${this.lockId}: connect failed ${attempt} times, the last: ${message}`);
        this.note(`attempt ${attempt}: ${message}`);
        this.retries++;
        await new Promise((r) => setTimeout(r, connectBackoffMs(this.lockId, attempt)));
        if (stale()) throw e;
      }
    }
  }

  private note(failure: string): void {
    if (this.failures.length < 5) this.failures.push(failure);
  }

  private async connectOnce(options: { subscribe?: boolean; status?: boolean }): Promise<void> {
    const client = await mqtt.connectAsync(this.url, {
      clientId: this.lockId,
      username: this.lockId,
      password: deriveLockPassword(this.siteSecret, this.lockId),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 120,
      will: { topic: this.topics.lock(this.lockId, "status"), payload: Buffer.from("offline"), qos: 1, retain: true },
    });
    this.client = client;
    // From CONNACK on, an error (a reset) must not be an unhandled 'error' event: it ends in 'close', handled below.
    let lastError: Error | null = null;
    client.on("error", (e) => {
      lastError = e;
    });
    // With reconnectPeriod 0 and a persistent session mqtt.js keeps a QoS 1 publish of a lost connection pending for
    // its next connection, so the setup would wait forever: a close before the setup is done fails this attempt.
    let onClose: () => void = () => {};
    const lost = new Promise<never>((_, reject) => {
      onClose = () =>
        reject(new Error(`connection closed during setup${lastError ? ` (${(lastError as Error).message})` : ""}`));
      client.once("close", onClose);
    });
    lost.catch(() => {});
    try {
      await Promise.race([this.setup(client, options), lost]);
    } catch (e) {
      client.removeListener("close", onClose);
      await client.endAsync(true).catch(() => {});
      throw e;
    }
    client.removeListener("close", onClose);
    client.once("close", () => {
      if (!this.redialOnDrop || this.client !== client) return;
      this.drops++;
      this.note(`dropped after setup${lastError ? ` (${(lastError as Error).message})` : ""}`);
      void client.endAsync(true).catch(() => {});
      void this.connect(options).catch((e: Error) => this.note(`redial failed: ${e.message}`));
    });
  }

  private async setup(client: MqttClient, options: { subscribe?: boolean; status?: boolean }): Promise<void> {
    if (options.status !== false) {
      const keys = encodeLockKeys({ lock: this.lockId, identity: this.identity, x25519: this.x25519.publicKey });
      await client.publishAsync(this.topics.lock(this.lockId, "keys"), Buffer.from(keys), { qos: 1, retain: true });
      await client.publishAsync(this.topics.lock(this.lockId, "status"), Buffer.from(encodeStatus("online")), {
        qos: 1,
        retain: true,
      });
    }
    if (options.subscribe !== false)
      await client.subscribeAsync([this.topics.lock(this.lockId, "state"), this.topics.lock(this.lockId, "cmd")], {
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
    this.generation++;
    this.redialOnDrop = false;
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

/** Retries and drops over all locks, and the first reason seen: for a row's note. */
export function connectTrouble(locks: readonly BenchLock[]): { retries: number; drops: number; first: string | null } {
  let retries = 0;
  let drops = 0;
  let first: string | null = null;
  for (const l of locks) {
    retries += l.retries;
    drops += l.drops;
    first ??= l.failures[0] ? `${l.lockId} ${l.failures[0]}` : null;
  }
  return { retries, drops, first };
}

export const benchLockIds = (count: number, prefix = "bench-lock") =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(4, "0")}`);
