import { fromHex, keyPairFromSeed, pinTag, type SignedLockState, signLockState } from "../src/index.js";
import { seed } from "./helpers.js";

/** Key material and documents for the trust tests: deterministic, from labelled seeds. */
export const authority = keyPairFromSeed(seed("authority A"));
export const otherAuthority = keyPairFromSeed(seed("authority of another lock holder"));
export const newAuthority = keyPairFromSeed(seed("authority B (after hand-over)"));
export const lockIdentityKey = keyPairFromSeed(seed("lock identity"));
export const agreementKey = seed("lock x25519 public (any 32 bytes here)");
export const claimSecret = fromHex("000102030405060708090a0b0c0d0e0f");
export const LOCK = "lock-1";
export const IAT = 1_800_000_000;

export function state(overrides: Partial<SignedLockState> = {}): SignedLockState {
  return {
    lock: LOCK,
    v: 1_800_000_000_000,
    iat: IAT,
    issuers: [
      { kid: fromHex("0102030405060708"), x: keyPairFromSeed(seed("issuer")).publicKey, notAfter: IAT + 86_400 },
    ],
    revoked: [{ cti: fromHex("ffeeddccbbaa99887766554433221100") }],
    ack: 41,
    reportKey: { id: fromHex("cafe0001"), x: seed("cloud x25519 report key") },
    ...overrides,
  };
}

export function signedState(
  overrides: Partial<SignedLockState> = {},
  options: { secretKey?: Uint8Array; pin?: boolean; handOver?: Uint8Array } = {},
): Uint8Array {
  const secretKey = options.secretKey ?? authority.secretKey;
  const s = state(overrides);
  const pub = keyPairFromSeed(secretKey).publicKey;
  return signLockState(s, {
    secretKey,
    pinTag: options.pin ? pinTag(claimSecret, s.lock, pub) : undefined,
    handOver: options.handOver,
  });
}
