import { fromBase64Url, type LockEvent, sealReport, type Telemetry, toBase64Url, toHex } from "@latchkey/protocol";
import { type FactoryLock, factoryLockFrom, readLockState, reportKeyOf } from "@latchkey/protocol/testing/factory-lock";
import { type BridgeSetup, lh, seededRandom, type Tenant, type TestCloud } from "./helpers.js";

/**
 * The one test lock of the cloud suite: a lock as the factory makes it (id, claim secret, identity and X25519 keys,
 * printed setup code; docs/trust.md "Lock identity and setup code") and as its firmware reports (events and telemetry
 * sealed under the report key derived from the cloud's key named in its signed state; docs/reports.md). Events and
 * telemetry reach the cloud only this way (docs/bridge-api.md "Reports from the lock").
 */
export interface TestLock extends FactoryLock {
  /** Set by `keyedLock`: the report key and the cloud key id it was derived for. */
  key?: Uint8Array;
  kid?: Uint8Array;
  /** The last report counter sealed. */
  ctr: number;
  /** Whether an upload of this lock carried its keys yet (its first report must). */
  keysSent: boolean;
}

/** A lock with keys from a seed (deterministic), not claimed by anyone yet. */
export function factoryLock(lockId: string, seed = lockId): TestLock {
  const random = seededRandom(`factory:${seed}`);
  const seeds = { claimSecret: random(16), identitySeed: random(32), agreementSeed: random(32) };
  return { ...factoryLockFrom(lockId, seeds), ctr: 0, keysSent: false };
}

/** Every spelling of the claim secret that would betray it in an answer or a log line. */
export function secretSpellings(secret: Uint8Array): string[] {
  const b = Buffer.from(secret);
  return [toHex(secret), toHex(secret).toUpperCase(), b.toString("base64url"), b.toString("base64").replace(/=+$/, "")];
}

/** The lock holder claims the lock with its printed code (POST …/locks/claims). */
export async function claim(t: TestCloud, tn: Tenant, lock: TestLock, name?: string) {
  return t.call("POST", lh(tn, "/locks/claims"), {
    token: tn.token,
    body: { setupCode: lock.setupCode, ...(name ? { name } : {}) },
  });
}

/** The bridge reports the lock among its connection's locks (adding to what it reported before). */
export async function reportFound(t: TestCloud, br: BridgeSetup, ...locks: { id: string; name?: string }[]) {
  const reported = await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
    token: br.token,
    body: { locks },
  });
  if (reported.status !== 200) throw new Error(`report: ${reported.status} ${JSON.stringify(reported.body)}`);
  return reported.body as { locks: { id: string; status: string }[] };
}

/** The bridge reports the lock and the lock holder claims it with its code. */
export async function reportedAndClaimed(t: TestCloud, tn: Tenant, br: BridgeSetup, lock: TestLock, name?: string) {
  await reportFound(t, br, { id: lock.lockId, ...(name ? { name } : {}) });
  const claimed = await claim(t, tn, lock);
  if (claimed.status !== 201) throw new Error(`claim: ${claimed.status} ${JSON.stringify(claimed.body)}`);
}

export async function fetchState(t: TestCloud, br: BridgeSetup, lockId: string) {
  const res = await t.call("GET", `/bridge/v1/locks/${lockId}/state`, { token: br.token });
  if (res.status !== 200) throw new Error(`state: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...(res.body as { lockId: string; v: number; iat: number }), bytes: fromBase64Url(res.body.state) };
}

export async function authorityOf(t: TestCloud, tn: Tenant): Promise<Uint8Array> {
  const res = await t.call("GET", lh(tn, "/authority"), { token: tn.token });
  if (res.status !== 200) throw new Error(`authority: ${res.status} ${JSON.stringify(res.body)}`);
  return new Uint8Array(Buffer.from(res.body.publicKey, "hex"));
}

/** Reads the cloud's report key from the lock's signed state (verified as the lock would) and derives the lock's side. */
export async function keyedLock(t: TestCloud, br: BridgeSetup, lock: TestLock): Promise<TestLock> {
  const state = await fetchState(t, br, lock.lockId);
  const { key, cloudKeyId } = reportKeyOf(lock, readLockState(lock, state.bytes));
  lock.key = key;
  lock.kid = cloudKeyId;
  return lock;
}

/** A lock reported by the bridge, claimed by the tenant and keyed for reports: what most tests need. */
export async function claimedLock(
  t: TestCloud,
  tn: Tenant,
  br: BridgeSetup,
  lockId: string,
  options: { name?: string; seed?: string } = {},
): Promise<TestLock> {
  const lock = factoryLock(lockId, options.seed);
  await reportedAndClaimed(t, tn, br, lock, options.name);
  return keyedLock(t, br, lock);
}

let eventIds = 0;

/** An event of the lock: `seq` and what else is given; a unique id unless one is given. */
export function eventOf(lockId: string, seq: number, fields: Partial<LockEvent> = {}): LockEvent {
  eventIds++;
  const id = new Uint8Array(16);
  Buffer.from(`${lockId}:${seq}`).copy(id);
  id[15] = eventIds & 0xff;
  return { id, lock: lockId, seq, ts: 1_800_000_000 + seq, type: "unlocked", ...fields };
}

function sealed(lock: TestLock): { key: Uint8Array; cloudKeyId: Uint8Array } {
  if (!lock.key || !lock.kid) throw new Error(`${lock.lockId} has no report key yet: keyedLock it first`);
  return { key: lock.key, cloudKeyId: lock.kid };
}

/** The lock's next sealed event report (base64url): its counter one above the last unless `ctr` is given. */
export function eventReport(
  lock: TestLock,
  seq: number,
  fields: Partial<LockEvent> | LockEvent["type"] = {},
  ctr = ++lock.ctr,
): string {
  const event = eventOf(lock.lockId, seq, typeof fields === "string" ? { type: fields } : fields);
  return toBase64Url(sealReport({ kind: "event", event, ctr, ...sealed(lock) }));
}

export function telemetryReport(
  lock: TestLock,
  level: number,
  ts: number,
  ctr = ++lock.ctr,
  fields: Partial<Telemetry> = {},
): string {
  return toBase64Url(
    sealReport({
      kind: "telemetry",
      telemetry: { lock: lock.lockId, ts, level, mv: 2900, state: "ok", ...fields },
      ctr,
      ...sealed(lock),
    }),
  );
}

export async function upload(t: TestCloud, br: BridgeSetup, items: unknown[]) {
  return t.call("POST", "/bridge/v1/reports", { token: br.token, body: { items } });
}

/**
 * Uploads the lock's reports as its bridge would (the lock's keys on its first upload) and checks every one was
 * accepted; answers the upload's answer.
 */
export async function sendReports(t: TestCloud, br: BridgeSetup, lock: TestLock, reports: string[]) {
  const items = reports.map((report, i) => ({
    lockId: lock.lockId,
    report,
    ...(i === 0 && !lock.keysSent ? { keys: lock.wireKeys } : {}),
  }));
  const res = await upload(t, br, items);
  const refused = res.status === 200 ? res.body.results.filter((r: { verdict: string }) => r.verdict !== "ok") : [];
  if (res.status !== 200 || refused.length > 0) {
    throw new Error(`reports of ${lock.lockId}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  lock.keysSent = true;
  return res;
}
