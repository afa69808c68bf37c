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
 * How a bench lock redials, as the reference lock does (lock-sim `src/mqtt/reconnect-delay.ts`, docs/mqtt.md
 * "Reconnecting"): after a lost connection or a failed connect it waits `periodMs`, doubled by each further failed
 * attempt up to `maxMs`, every wait spread ±50 %; a lock never gives up, the bench after `attempts`.
 */
export const CONNECT_RETRY = { periodMs: 1_000, maxMs: 30_000, attempts: 12 } as const;

/**
 * The wait after failure `failure` (1-based: a drop or the first failed connect is 1), as lock-sim's
 * `reconnectDelayMs(failure - 1, periodMs, maxMs, random)`. The spread is a pure function of the lock, the failure and
 * `salt` (the lock's dial count) instead of a shared RNG: a run is repeatable, and the locks do not redial in step.
 */
export function connectBackoffMs(lockId: string, failure: number, salt = 0): number {
  const base = Math.min(CONNECT_RETRY.maxMs, CONNECT_RETRY.periodMs * 2 ** Math.min(failure - 1, 30));
  const spread = createHash("sha256").update(`${lockId}\0${failure}\0${salt}`).digest().readUInt16BE(0) / 65_536;
  return Math.max(1, Math.round(base * (0.5 + spread)));
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
  /** Publishes sent again on a new connection because the one they went out on was lost before their PUBACK. */
  resent = 0;
  /** Why attempts failed or connections were lost (the first few). */
  readonly failures: string[] = [];
  /** Failed attempts by reason (its message, numbers blanked): every one, for the bench's notes. */
  readonly reasons = new Map<string, number>();
  /** When (performance.now()) the last connect attempt that worked began, and when its setup was done. */
  lastAttemptAt = 0;
  connectedAt = 0;
  readonly topics: Topics;
  private readonly identity: Uint8Array;
  private readonly x25519: { privateKey: Uint8Array; publicKey: Uint8Array };
  private reportKey: Uint8Array | null = null;
  /**
   * Whether a connection lost after its setup is dialled again (as a lock does). A bench that takes the broker away
   * on purpose and dials every lock itself (the reconnect storm) turns it off first.
   */
  redialOnDrop = true;
  /** The redial after the last drop, until it connected or gave up (a bench that waits for every lock awaits it). */
  redialing: Promise<void> = Promise.resolve();
  /** Bumped by connect() and close(): a redial loop of an older call stops, so two never race for one client id. */
  private generation = 0;
  /** connect() calls so far: salts the backoff's spread, so one lock's waits differ from one drop to the next. */
  private dials = 0;

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

  /**
   * Connects and sets up (keys, status, subscriptions), redialling with backoff until it worked or attempts ran out.
   * `afterDrop`: the connection was just lost, so the lock waits its first backoff before dialling, as a lock does.
   */
  async connect(options: { subscribe?: boolean; status?: boolean } = {}, afterDrop = false): Promise<void> {
    const generation = ++this.generation;
    this.redialOnDrop = true;
    const stale = () => generation !== this.generation;
    let failures = 0;
    const wait = async () => {
      failures++;
      await new Promise((r) => setTimeout(r, connectBackoffMs(this.lockId, failures, this.dials)));
    };
    this.dials++;
    if (afterDrop) await wait();
    for (let attempt = 1; ; attempt++) {
      if (stale()) throw new Error(`${this.lockId}: connect superseded`);
      try {
        const at = performance.now();
        await this.connectOnce(options);
        this.lastAttemptAt = at;
        this.connectedAt = performance.now();
        return;
      } catch (e) {
        const message = (e as Error).message;
        if (stale()) throw e;
        if (attempt >= CONNECT_RETRY.attempts)
          throw new Error(`${this.lockId}: connect failed ${attempt} times, the last: ${message}`);
        this.note(`attempt ${attempt}: ${message}`);
        const reason = message.replace(/\d+/g, "N");
        this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
        this.retries++;
        await wait();
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
      this.redialing = this.connect(options, true).catch((e: Error) => this.note(`redial failed: ${e.message}`));
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

  /** `count` sealed events, built now: a bench that times only the publishing builds them before its window. */
  prepareEvents(count: number): Buffer[] {
    return Array.from({ length: count }, () => this.eventPayload());
  }

  /**
   * Publishes `count` events (or the `prepared` payloads, then `count` is theirs) QoS 1 keeping at most `window`
   * unacknowledged; resolves when all are acknowledged.
   */
  async publishEvents(
    count: number,
    window: number,
    topic = this.topics.lock(this.lockId, "events"),
    prepared?: readonly Buffer[],
  ): Promise<void> {
    const total = prepared ? prepared.length : count;
    let sent = 0;
    const worker = async () => {
      while (sent < total) {
        const payload = prepared ? prepared[sent]! : this.eventPayload();
        sent++;
        await this.publishAcked(topic, payload);
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, total) }, worker));
  }

  /**
   * Publishes QoS 1 and resolves on the PUBACK, sending again on the redial's connection when the connection is lost
   * first, as a lock sends an unacknowledged report again (counted in `resent`). mqtt.js keeps a persistent session's
   * publish of a lost connection pending for a reconnect of its own, which these clients never make, and a publish on
   * the client ended after the drop threw inside mqtt.js and took the bench's process down (10,000 locks, 2026-12-07).
   */
  private async publishAcked(topic: string, payload: Buffer): Promise<void> {
    for (let tries = 0; tries < 2 * CONNECT_RETRY.attempts; tries++) {
      const client = this.client;
      if (client.connected) {
        let onClose: () => void = () => {};
        const lost = new Promise<false>((resolve) => {
          onClose = () => resolve(false);
          client.once("close", onClose);
        });
        const sent = client.publishAsync(topic, payload, { qos: 1 }).then(
          () => true,
          (e: Error) => {
            if (client.connected) throw e;
            return false;
          },
        );
        const acked = await Promise.race([sent, lost]).finally(() => client.removeListener("close", onClose));
        if (acked) return;
        this.resent++;
      }
      if (!this.redialOnDrop) throw new Error(`${this.lockId}: connection lost before a PUBACK`);
      // The drop's 'close' starts the redial (connectOnce's handler), which ends once a connection is set up.
      await new Promise((r) => setTimeout(r, 100));
      await this.redialing;
    }
    throw new Error(`${this.lockId}: no connection took a publish after ${2 * CONNECT_RETRY.attempts} tries`);
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

/**
 * Retries, drops and publishes sent again over all locks, the first reason seen, and the failed attempts by reason:
 * for a row's note.
 */
export function connectTrouble(locks: readonly BenchLock[]): {
  retries: number;
  drops: number;
  resent: number;
  first: string | null;
  reasons: Record<string, number>;
} {
  let retries = 0;
  let drops = 0;
  let resent = 0;
  let first: string | null = null;
  const reasons: Record<string, number> = {};
  for (const l of locks) {
    retries += l.retries;
    drops += l.drops;
    resent += l.resent;
    first ??= l.failures[0] ? `${l.lockId} ${l.failures[0]}` : null;
    for (const [reason, n] of l.reasons) reasons[reason] = (reasons[reason] ?? 0) + n;
  }
  return { retries, drops, resent, first, reasons };
}

export const benchLockIds = (count: number, prefix = "bench-lock") =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(4, "0")}`);
