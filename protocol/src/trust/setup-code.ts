import { createHash, timingSafeEqual } from "node:crypto";
import { concatBytes } from "../bytes.js";
import { encodeCbor } from "../cbor/encode.js";
import { decodeStrict } from "../cbor/strict-decode.js";
import { ProtocolError } from "../errors.js";
import { isValidLockId } from "../messages/fields.js";
import { fromBase32, toBase32 } from "./base32.js";
import { checkIdentity, FINGERPRINT_BYTES, type LockIdentity } from "./identity.js";
import { CLAIM_SECRET_BYTES } from "./labels.js";

/**
 * The setup code printed on a lock and in its QR payload (docs/trust.md, "Setup code"):
 *
 *   "LK1:" + base32(CBOR [lockId, claimSecret, fingerprint] || checksum)
 *   checksum = first 4 bytes of sha256("LK1:" || CBOR [...])
 *
 * Upper-case base32 fits QR's alphanumeric mode. The checksum turns a mistyped or misread character into a clear
 * `bad_checksum` rather than a claim of the wrong lock or a wrong secret that fails later without saying why.
 */
export const SETUP_CODE_PREFIX = "LK1:";
const CHECKSUM_BYTES = 4;
const PREFIX_BYTES = new TextEncoder().encode(SETUP_CODE_PREFIX);
/** Longest body: lock id of 64 characters plus secret, fingerprint and checksum, with CBOR heads. */
const MAX_CODE_LENGTH = SETUP_CODE_PREFIX.length + 160;

function checksum(body: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash("sha256").update(concatBytes(PREFIX_BYTES, body)).digest().subarray(0, CHECKSUM_BYTES),
  );
}

function checksumMatches(raw: Uint8Array): boolean {
  const body = raw.subarray(0, raw.length - CHECKSUM_BYTES);
  return timingSafeEqual(checksum(body), raw.subarray(raw.length - CHECKSUM_BYTES));
}

export function encodeSetupCode(identity: LockIdentity): string {
  checkIdentity(identity);
  const body = encodeCbor([identity.lockId, identity.claimSecret, identity.fingerprint]);
  return SETUP_CODE_PREFIX + toBase32(concatBytes(body, checksum(body)));
}

function bad(message: string): never {
  throw new ProtocolError("bad_setup_code", message);
}

/**
 * Reads a setup code as a person may type it: case, spaces and hyphens are forgiven; anything else wrong is
 * `bad_setup_code` (not a latchkey code, another version, out of shape) or `bad_checksum` (a typo).
 */
export function decodeSetupCode(text: string): LockIdentity {
  if (typeof text !== "string") bad("setup code must be text");
  const normal = text.replace(/[\s-]/g, "").toUpperCase();
  if (normal.length > MAX_CODE_LENGTH) bad("setup code is too long");
  const colon = normal.indexOf(":");
  if (colon < 0 || !normal.startsWith("LK")) bad('not a latchkey setup code (it starts with "LK1:")');
  if (normal.slice(0, colon + 1) !== SETUP_CODE_PREFIX)
    bad(`setup code version ${normal.slice(0, colon)} is not supported`);
  const text32 = normal.slice(colon + 1);
  if (!/^[A-Z2-7]+$/.test(text32)) bad("setup code has characters outside A-Z and 2-7");
  // A length or last character no encoder makes is a character dropped, added or mistyped: the checksum's case.
  const raw = fromBase32(text32);
  if (raw === undefined || raw.length <= CHECKSUM_BYTES || !checksumMatches(raw)) {
    throw new ProtocolError("bad_checksum", "setup code checksum does not match: a character is mistyped or missing");
  }
  const body = raw.subarray(0, raw.length - CHECKSUM_BYTES);
  let items: unknown;
  try {
    items = decodeStrict(body, { maxBytes: body.length, maxDepth: 2 });
  } catch {
    bad("setup code body is not well-formed");
  }
  if (!Array.isArray(items) || items.length !== 3) bad("setup code body must hold three items");
  const [lockId, claimSecret, fp] = items as unknown[];
  if (!isValidLockId(lockId)) bad("setup code lock id is not valid");
  if (!(claimSecret instanceof Uint8Array) || claimSecret.length !== CLAIM_SECRET_BYTES) {
    bad(`setup code claim secret must be ${CLAIM_SECRET_BYTES} bytes`);
  }
  if (!(fp instanceof Uint8Array) || fp.length !== FINGERPRINT_BYTES) {
    bad(`setup code fingerprint must be ${FINGERPRINT_BYTES} bytes`);
  }
  return { lockId, claimSecret: new Uint8Array(claimSecret), fingerprint: new Uint8Array(fp) };
}
