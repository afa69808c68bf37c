import {
  encodeSetupCode,
  fingerprint,
  fromBase64Url,
  keyPairFromSeed,
  type LockPublicKeys,
  toHex,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import { type BridgeSetup, lh, seededRandom, type Tenant, type TestCloud } from "./helpers.js";

/** A lock as the factory makes it (docs/trust.md "Lock identity and setup code"): id, claim secret, keys, code. */
export interface FactoryLock {
  lockId: string;
  claimSecret: Uint8Array;
  keys: LockPublicKeys;
  setupCode: string;
}

export function factoryLock(lockId: string, seed = lockId): FactoryLock {
  const random = seededRandom(`factory:${seed}`);
  const claimSecret = random(16);
  const keys = {
    identityKey: keyPairFromSeed(random(32)).publicKey,
    agreementKey: x25519KeyPairFromSeed(random(32)).publicKey,
  };
  const setupCode = encodeSetupCode({ lockId, claimSecret, fingerprint: fingerprint(keys) });
  return { lockId, claimSecret, keys, setupCode };
}

/** Every spelling of the claim secret that would betray it in an answer or a log line. */
export function secretSpellings(secret: Uint8Array): string[] {
  const b = Buffer.from(secret);
  return [toHex(secret), toHex(secret).toUpperCase(), b.toString("base64url"), b.toString("base64").replace(/=+$/, "")];
}

export async function claim(t: TestCloud, tn: Tenant, lock: FactoryLock, name?: string) {
  return t.call("POST", lh(tn, "/locks/claims"), {
    token: tn.token,
    body: { setupCode: lock.setupCode, ...(name ? { name } : {}) },
  });
}

/** The bridge reports the lock (today's flow) and the lock holder claims it with its code. */
export async function reportedAndClaimed(t: TestCloud, tn: Tenant, br: BridgeSetup, lock: FactoryLock) {
  const reported = await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
    token: br.token,
    body: { locks: [{ id: lock.lockId }] },
  });
  if (reported.status !== 200) throw new Error(`report: ${reported.status} ${JSON.stringify(reported.body)}`);
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
