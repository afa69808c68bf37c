import {
  deriveReportKey,
  encodeSetupCode,
  fingerprint,
  fromBase64Url,
  keyPairFromSeed,
  type LockPublicKeys,
  type SignedLockState,
  toBase64Url,
  verifyLockState,
  x25519KeyPairFromSeed,
} from "../../src/index.js";

/**
 * A lock as the factory makes it, played in code by tests that speak the cloud's APIs themselves (docs/trust.md "Lock
 * identity and setup code"): its claim secret, identity and X25519 keys from seeds the test chooses (so each suite keeps
 * its own deterministic values), the setup code printed on it, and the report key it derives from a signed state it
 * has verified as the unpinned lock does (docs/reports.md "Report key").
 */
export interface FactoryLock {
  lockId: string;
  claimSecret: Uint8Array;
  /** The printed setup code (lock id, claim secret, fingerprint of both public keys): it holds a secret. */
  setupCode: string;
  /** The lock's public keys (the setup code's fingerprint covers both). */
  keys: LockPublicKeys;
  /** The X25519 pair, whose private half derives the report key. */
  agreement: { privateKey: Uint8Array; publicKey: Uint8Array };
  /** The public keys as a bridge's report upload carries them (base64url; docs/bridge-api.md "Reports from the lock"). */
  wireKeys: { identity: string; x25519: string };
}

export interface FactorySeeds {
  /** 16 bytes. */
  claimSecret: Uint8Array;
  /** 32 bytes each. */
  identitySeed: Uint8Array;
  agreementSeed: Uint8Array;
}

export function factoryLockFrom(lockId: string, seeds: FactorySeeds): FactoryLock {
  const identityKey = keyPairFromSeed(seeds.identitySeed).publicKey;
  const agreement = x25519KeyPairFromSeed(seeds.agreementSeed);
  const keys = { identityKey, agreementKey: agreement.publicKey };
  return {
    lockId,
    claimSecret: seeds.claimSecret,
    setupCode: encodeSetupCode({ lockId, claimSecret: seeds.claimSecret, fingerprint: fingerprint(keys) }),
    keys,
    agreement,
    wireKeys: { identity: toBase64Url(identityKey), x25519: toBase64Url(agreement.publicKey) },
  };
}

/** The state as the bridge API hands it over (base64url or bytes), verified as the unpinned lock would (its pin tag). */
export function readLockState(lock: FactoryLock, state: string | Uint8Array): SignedLockState {
  const bytes = typeof state === "string" ? fromBase64Url(state) : state;
  const verdict = verifyLockState(bytes, { lockId: lock.lockId, claimSecret: lock.claimSecret });
  if (!verdict.ok) throw new Error(`the state for ${lock.lockId} is refused (${verdict.code}): ${verdict.message}`);
  return verdict.state;
}

/** The report key the state names, derived as the lock does (X25519 then HKDF), with the cloud key id it is for. */
export function reportKeyOf(lock: FactoryLock, state: SignedLockState): { key: Uint8Array; cloudKeyId: Uint8Array } {
  const { id, x } = state.reportKey;
  const key = deriveReportKey({
    lockId: lock.lockId,
    cloudKeyId: id,
    lockPrivate: lock.agreement.privateKey,
    peerPublic: x,
  });
  return { key, cloudKeyId: id };
}
