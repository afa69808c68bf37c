import { ClaimLabel, type KeyClaims } from "../../src/index.js";

/** The CWT `cnf` as a key token carries it: a COSE_Key of the device's Ed25519 key (OKP, crv 6), RFC 8747. */
export function cnfMap(devicePublicKey: Uint8Array): Map<number, unknown> {
  return new Map([
    [
      1,
      new Map<number, unknown>([
        [1, 1],
        [-1, 6],
        [-2, devicePublicKey],
      ]),
    ],
  ]);
}

/** The claims as the CBOR map a token's payload holds, by label, for tests that edit it before encoding. */
export function claimsMap(c: KeyClaims): Map<number, unknown> {
  return new Map<number, unknown>([
    [ClaimLabel.iss, c.iss],
    [ClaimLabel.sub, c.sub],
    [ClaimLabel.aud, c.aud],
    [ClaimLabel.exp, c.exp],
    [ClaimLabel.nbf, c.nbf],
    [ClaimLabel.iat, c.iat],
    [ClaimLabel.cti, c.cti],
    [ClaimLabel.cnf, cnfMap(c.cnf)],
  ]);
}
