import { encodeCbor } from "../cbor/encode.js";
import { labelledMap } from "../cbor/labelled.js";
import { Alg, HeaderLabel, signSign1 } from "../cose/sign1.js";
import { defaultEd25519, type Ed25519Backend } from "../crypto/ed25519.js";
import {
  ClaimLabel,
  CNF_COSE_KEY,
  CoseKeyLabel,
  CRV_ED25519,
  CTI_BYTES,
  KEY_TOKEN_TYP,
  type KeyClaims,
  KTY_OKP,
  MAX_TOKEN_BYTES,
} from "./claims.js";
import { encodeSchedule, SCHEDULE_HEADER_LABEL } from "./schedule.js";

export interface SignKeyTokenOptions {
  /** Names the issuer key; locks look the public key up by it. */
  kid: Uint8Array;
  /** The issuer's 32-byte Ed25519 secret key. */
  secretKey: Uint8Array;
  backend?: Ed25519Backend;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new TypeError(message);
}

function checkClaims(claims: KeyClaims): void {
  for (const name of ["iss", "sub", "aud"] as const) {
    check(typeof claims[name] === "string" && claims[name].length > 0, `claim ${name} must be non-empty text`);
  }
  for (const name of ["exp", "nbf", "iat"] as const) {
    check(Number.isSafeInteger(claims[name]), `claim ${name} must be an integer number of seconds`);
  }
  check(claims.nbf < claims.exp, "claim nbf must be before exp");
  check(claims.cti instanceof Uint8Array && claims.cti.length === CTI_BYTES, `claim cti must be ${CTI_BYTES} bytes`);
  check(claims.cnf instanceof Uint8Array && claims.cnf.length === 32, "claim cnf must be a 32-byte Ed25519 public key");
}

/** Encodes the claims as a CWT claims map with integer labels, in label order. */
export function encodeClaims(claims: KeyClaims): Uint8Array {
  const coseKey = labelledMap(CoseKeyLabel, { kty: KTY_OKP, crv: CRV_ED25519, x: claims.cnf });
  return encodeCbor(labelledMap(ClaimLabel, { ...claims, cnf: new Map([[CNF_COSE_KEY, coseKey]]) }));
}

/** Mints a key token: COSE_Sign1 (tag 18, no tag 61) over the CWT claims, EdDSA, `kid` and `typ` protected. */
export function signKeyToken(claims: KeyClaims, options: SignKeyTokenOptions): Uint8Array {
  checkClaims(claims);
  check(
    options.kid instanceof Uint8Array && options.kid.length > 0 && options.kid.length <= 64,
    "kid must be 1 to 64 bytes",
  );
  const header = new Map<number, unknown>([
    [HeaderLabel.alg, Alg.EdDSA],
    [HeaderLabel.kid, options.kid],
    [HeaderLabel.typ, KEY_TOKEN_TYP],
  ]);
  if (claims.sched !== undefined) {
    // Critical: a lock that does not understand schedules must refuse the key, not open it at every hour.
    header.set(HeaderLabel.crit, [SCHEDULE_HEADER_LABEL]);
    header.set(SCHEDULE_HEADER_LABEL, encodeSchedule(claims.sched));
  }
  const token = signSign1({
    protectedHeader: header as Map<number, never>,
    payload: encodeClaims(claims),
    secretKey: options.secretKey,
    backend: options.backend ?? defaultEd25519,
  });
  check(token.length <= MAX_TOKEN_BYTES, `token is ${token.length} bytes, over the ${MAX_TOKEN_BYTES}-byte limit`);
  return token;
}
