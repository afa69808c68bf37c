import {
  deriveReportKey,
  encodeSetupCode,
  fingerprint,
  fromBase64Url,
  keyPairFromSeed,
  type LockEvent,
  sealReport,
  toBase64Url,
  verifyLockState,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import { type BridgeSetup, seededRandom, type TestCloud } from "./helpers.js";

/**
 * A lock that seals reports (docs/reports.md), as the factory and the lock's firmware would: its keys from a seed,
 * its report key derived from the cloud's report key named in its signed state.
 */
export interface ReportingLock {
  lockId: string;
  claimSecret: Uint8Array;
  setupCode: string;
  identity: Uint8Array;
  x25519: Uint8Array;
  /** The keys as a report upload carries them (base64url). */
  wireKeys: { identity: string; x25519: string };
  key: Uint8Array;
  kid: Uint8Array;
  ctr: number;
}

export function reportingLock(
  lockId: string,
  seed = lockId,
): Omit<ReportingLock, "key" | "kid"> & { xPrivate: Uint8Array } {
  const random = seededRandom(`reporting:${seed}`);
  const claimSecret = random(16);
  const identity = keyPairFromSeed(random(32)).publicKey;
  const agreement = x25519KeyPairFromSeed(random(32));
  const setupCode = encodeSetupCode({
    lockId,
    claimSecret,
    fingerprint: fingerprint({ identityKey: identity, agreementKey: agreement.publicKey }),
  });
  return {
    lockId,
    claimSecret,
    setupCode,
    identity,
    x25519: agreement.publicKey,
    xPrivate: agreement.privateKey,
    wireKeys: { identity: toBase64Url(identity), x25519: toBase64Url(agreement.publicKey) },
    ctr: 0,
  };
}

/** Reads the cloud's report key from the lock's signed state, and derives the lock's side of the report key. */
export async function keyedLock(
  t: TestCloud,
  br: BridgeSetup,
  lock: ReturnType<typeof reportingLock>,
): Promise<ReportingLock> {
  const res = await t.call("GET", `/bridge/v1/locks/${lock.lockId}/state`, { token: br.token });
  if (res.status !== 200) throw new Error(`state: ${res.status} ${JSON.stringify(res.body)}`);
  const verdict = verifyLockState(fromBase64Url(res.body.state), {
    lockId: lock.lockId,
    claimSecret: lock.claimSecret,
  });
  if (!verdict.ok) throw new Error(verdict.message);
  const { id, x } = verdict.state.reportKey;
  const key = deriveReportKey({ lockId: lock.lockId, cloudKeyId: id, lockPrivate: lock.xPrivate, peerPublic: x });
  return { ...lock, key, kid: id };
}

let eventIds = 0;

export function eventOf(lockId: string, seq: number, type: LockEvent["type"] = "unlocked"): LockEvent {
  eventIds++;
  const id = new Uint8Array(16);
  Buffer.from(`${lockId}:${seq}`).copy(id);
  id[15] = eventIds & 0xff;
  return { id, lock: lockId, seq, ts: 1_800_000_000 + seq, type };
}

/** The next report of the lock: an event with `seq` (its counter one above the last). */
export function eventReport(lock: ReportingLock, seq: number, ctr = ++lock.ctr): string {
  return toBase64Url(
    sealReport({ kind: "event", event: eventOf(lock.lockId, seq), ctr, key: lock.key, cloudKeyId: lock.kid }),
  );
}

export function telemetryReport(lock: ReportingLock, level: number, ts: number, ctr = ++lock.ctr): string {
  return toBase64Url(
    sealReport({
      kind: "telemetry",
      telemetry: { lock: lock.lockId, ts, level, mv: 2900, state: "ok" },
      ctr,
      key: lock.key,
      cloudKeyId: lock.kid,
    }),
  );
}

export async function upload(t: TestCloud, br: BridgeSetup, items: unknown[]) {
  return t.call("POST", "/bridge/v1/reports", { token: br.token, body: { items } });
}
