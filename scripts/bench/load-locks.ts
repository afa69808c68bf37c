import { createHash, randomBytes } from "node:crypto";
import {
  deriveLockPassword,
  deriveReportKey,
  encodeLockKeys,
  encodeSetupCode,
  encodeStatus,
  fingerprint,
  keyPairFromSeed,
  type LockEvent,
  sealReport,
  Topics,
  verifyLockState,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";

/** What a lock seals its reports with: the key derived from its state's report key, and that key's id. */
interface Sealing {
  key: Uint8Array;
  cloudKeyId: Uint8Array;
}

/**
 * A light lock for load, on the signed path (docs/trust.md "Lock"): an mqtt.js client that logs in as a lock (client
 * id = username = lock id, password derived from the site secret), reports `online`, publishes its public keys
 * retained on `keys`, and subscribes to its `state` and `cmd` like firmware does. Its setup code is claimed by the
 * bench through the Integrator API; the first signed state the bridge relays pins the authority (checked with
 * protocol's `verifyLockState`) and names the cloud's report key, and from then on it publishes its events QoS 1 as
 * sealed reports (`sealReport`, one counter across them) with a bounded window in flight. No flash, no ring, no ack
 * handling, no clock: the bench measures the bridge and the cloud, not a thousand firmware simulations in the harness.
 */
export class LoadLock {
  client: MqttClient | null = null;
  seq = 0;
  /** Events the broker acknowledged (PUBACK). */
  acked = 0;
  readonly topics = new Topics();
  private readonly claimSecret = randomBytes(16);
  private readonly identityKey = keyPairFromSeed(randomBytes(32)).publicKey;
  private readonly agreement = x25519KeyPairFromSeed(randomBytes(32));
  private authority: Uint8Array | undefined;
  private stateV: number | undefined;
  private sealing: Sealing | null = null;
  private ctr = 0;
  private readonly sealed: Array<() => void> = [];

  constructor(
    readonly lockId: string,
    private readonly url: string,
    /** null: a broker without logins (the raw aedes baseline), which needs no state: reports under a throwaway key. */
    private readonly siteSecret: string | null,
    /** Keeps event ids unique across runs that share a cloud. */
    private readonly runTag: string,
  ) {
    if (siteSecret === null) this.sealing = { key: randomBytes(32), cloudKeyId: randomBytes(8) };
  }

  /** The code on the lock's label: the bench claims the lock with it, as an integrator would. Never log it. */
  get setupCode(): string {
    return encodeSetupCode({
      lockId: this.lockId,
      claimSecret: this.claimSecret,
      fingerprint: fingerprint({ identityKey: this.identityKey, agreementKey: this.agreement.publicKey }),
    });
  }

  /** Whether a signed state named the report key, so the lock can seal its events. */
  get ready(): boolean {
    return this.sealing !== null;
  }

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
    const stateTopic = this.topics.lock(this.lockId, "state");
    this.client.on("message", (topic, payload) => {
      if (topic === stateTopic) this.applyState(new Uint8Array(payload));
    });
    await this.client.publishAsync(status, Buffer.from(encodeStatus("online")), { qos: 1, retain: true });
    const keys = encodeLockKeys({ lock: this.lockId, identity: this.identityKey, x25519: this.agreement.publicKey });
    await this.client.publishAsync(this.topics.lock(this.lockId, "keys"), Buffer.from(keys), { qos: 1, retain: true });
    await this.client.subscribeAsync([stateTopic, this.topics.lock(this.lockId, "cmd")], { qos: 1 });
  }

  /** A state the bridge relayed: verified as a lock does, then its report key is the one reports are sealed under. */
  private applyState(bytes: Uint8Array): void {
    const verdict = verifyLockState(bytes, {
      lockId: this.lockId,
      ...(this.authority === undefined ? { claimSecret: this.claimSecret } : { authority: this.authority }),
      ...(this.stateV === undefined ? {} : { currentV: this.stateV }),
    });
    if (!verdict.ok) return;
    this.authority = verdict.authority;
    this.stateV = verdict.state.v;
    const { id, x } = verdict.state.reportKey;
    if (this.sealing !== null && Buffer.from(this.sealing.cloudKeyId).equals(id)) return;
    this.sealing = {
      key: deriveReportKey({
        lockId: this.lockId,
        cloudKeyId: id,
        lockPrivate: this.agreement.privateKey,
        peerPublic: x,
      }),
      cloudKeyId: id,
    };
    for (const wake of this.sealed.splice(0)) wake();
  }

  /** Resolves once a signed state named the cloud's report key (the lock is claimed and its bridge relayed it). */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.lockId}: no signed state within ${timeoutMs} ms (is it claimed?)`)),
        timeoutMs,
      );
      this.sealed.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The id of this lock's event `seq`: a pure function, so the bench can list what must arrive. */
  eventId(seq: number): Buffer {
    return createHash("sha256").update(`${this.runTag}/${this.lockId}/${seq}`).digest().subarray(0, 16);
  }

  private nextReport(): Buffer {
    const sealing = this.sealing;
    if (sealing === null) throw new Error(`${this.lockId}: no signed state yet, so no report key to seal with`);
    const seq = ++this.seq;
    const ts = Math.floor(Date.now() / 1000);
    const event: LockEvent = { id: this.eventId(seq), lock: this.lockId, seq, ts, type: "denied", code: "expired" };
    return Buffer.from(sealReport({ kind: "event", event, ...sealing, ctr: ++this.ctr }));
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
        await client.publishAsync(topic, this.nextReport(), { qos: 1 });
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

/**
 * Claims each lock with its setup code through the Integrator API (the only way a code reaches the cloud, docs/design.md
 * section 7), then waits until each has the signed state the bridge relays after the claim.
 */
export async function claimLocks(
  locks: LoadLock[],
  claim: (setupCode: string) => Promise<unknown>,
  timeoutMs = 120_000,
): Promise<void> {
  for (const lock of locks) await claim(lock.setupCode);
  await Promise.all(locks.map((l) => l.whenReady(timeoutMs)));
}

export const totalAcked = (locks: LoadLock[]) => locks.reduce((n, l) => n + l.acked, 0);
