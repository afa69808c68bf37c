import { type KeyClaims, keyPairFromSeed, signKeyToken, signUnlockProof, type TrustedIssuer } from "@latchkey/protocol";
import { seededRandom } from "../../src/random.js";

export const T0 = 1_800_000_000; // unix seconds the tests' ManualClock starts at

export interface Issuer {
  kid: Uint8Array;
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  trusted: TrustedIssuer;
}

export function makeIssuer(seed: string): Issuer {
  const random = seededRandom(`issuer:${seed}`);
  const { secretKey, publicKey } = keyPairFromSeed(random(32));
  const kid = random(8);
  return { kid, secretKey, publicKey, trusted: { kid, publicKey } };
}

export function makeDevice(seed: string): { secretKey: Uint8Array; publicKey: Uint8Array } {
  return keyPairFromSeed(seededRandom(`device:${seed}`)(32));
}

let ctiCounter = 0;
export function cti(n = ++ctiCounter): Uint8Array {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint32(12, n);
  b[0] = 0xc7;
  return b;
}

export function claimsFor(lockId: string, device: Uint8Array, overrides: Partial<KeyClaims> = {}): KeyClaims {
  return {
    iss: "https://issuer.test",
    sub: "+4790000000",
    aud: lockId,
    nbf: T0 - 3600,
    exp: T0 + 3600,
    iat: T0 - 3600,
    cti: cti(),
    cnf: device,
    ...overrides,
  };
}

export function mint(issuer: Issuer, claims: KeyClaims): Uint8Array {
  return signKeyToken(claims, { kid: issuer.kid, secretKey: issuer.secretKey });
}

export function proofFor(lockId: string, nonce: Uint8Array, token: Uint8Array, deviceSecret: Uint8Array): Uint8Array {
  return signUnlockProof({ lockId, nonce, token, deviceSecretKey: deviceSecret });
}

import {
  ClaimLabel,
  decodeStrict,
  encodeCbor,
  encodeClaims,
  HeaderLabel,
  KEY_TOKEN_TYP,
  signSign1,
} from "@latchkey/protocol";

/** A token with a hand-made header or claims map, for the rejection paths a well-behaved issuer never produces. */
export function craft(
  issuer: Issuer,
  claims: KeyClaims,
  options: { alg?: number; dropClaim?: keyof typeof ClaimLabel } = {},
): Uint8Array {
  const header = new Map<number, unknown>([
    [HeaderLabel.alg, options.alg ?? -8],
    [HeaderLabel.kid, issuer.kid],
    [HeaderLabel.typ, KEY_TOKEN_TYP],
  ]);
  // The claims as protocol encodes them, so only what a test changes differs from a real token.
  const map = decodeStrict(encodeClaims(claims)) as Map<number, unknown>;
  if (options.dropClaim !== undefined) map.delete(ClaimLabel[options.dropClaim]);
  return signSign1({
    protectedHeader: header as Map<number, never>,
    payload: encodeCbor(map),
    secretKey: issuer.secretKey,
  });
}
