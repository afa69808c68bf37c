import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from "node:crypto";
import { encodeCbor } from "../cbor/encode.js";
import { ProtocolError } from "../errors.js";
import { isValidLockId } from "../messages/fields.js";

/**
 * The report key (docs/reports.md "Report key"): a 32-byte HMAC key the lock and the cloud each derive on their own
 * side from X25519 (RFC 7748) between the lock's X25519 key and the cloud's report key named in the lock's state, then
 * HKDF-SHA256 (RFC 5869). Never from the claim secret: the printed label would then forge reports (docs/design.md
 * section 7). Both public keys, the lock id and the cloud key id are bound in HKDF's info, so the key of one lock or one
 * cloud key is worthless for another.
 */

export const X25519_KEY_BYTES = 32;
export const REPORT_KEY_BYTES = 32;
/** Cloud key ids are byte strings like issuer kids; bounded so a header stays small. */
export const MAX_REPORT_KID_BYTES = 32;

/** HKDF salt: empty, so HKDF uses HashLen zero bytes (RFC 5869 section 2.2); the context is all in `info`. */
export const REPORT_KEY_SALT = new Uint8Array(0);
/** First element of the HKDF info array: names the purpose and version of the derived key. */
export const REPORT_KEY_LABEL = "latchkey-report-key-v1";

// DER prefixes that wrap a raw X25519 key as PKCS#8 / SPKI (RFC 8410, OID 1.3.101.110), so OpenSSL can import it.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

function weak(message: string): never {
  throw new ProtocolError("weak_key", message);
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== X25519_KEY_BYTES)
    weak(`${what} must be ${X25519_KEY_BYTES} bytes`);
}

function importPrivate(privateKey: Uint8Array): KeyObject {
  checkKey(privateKey, "X25519 private key");
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateKey]), format: "der", type: "pkcs8" });
}

function importPublic(publicKey: Uint8Array): KeyObject {
  checkKey(publicKey, "X25519 public key");
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
}

/** The public key of a raw 32-byte X25519 private key (clamped by X25519 itself, RFC 7748 section 5). */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  return publicOf(importPrivate(privateKey));
}

function publicOf(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - X25519_KEY_BYTES));
}

/** A key pair from 32 bytes the caller drew from its own randomness (protocol has none of its own). */
export function x25519KeyPairFromSeed(seed: Uint8Array): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = new Uint8Array(seed);
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

/**
 * X25519(privateKey, peerPublic). A low-order peer point gives the all-zero secret (RFC 7748 section 6.1): refused
 * with `weak_key`, whether OpenSSL refuses it itself or not, so a courier cannot force a key everyone knows.
 */
export function x25519SharedSecret(privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  return sharedSecret(importPrivate(privateKey), peerPublic);
}

function sharedSecret(priv: KeyObject, peerPublic: Uint8Array): Uint8Array {
  const pub = importPublic(peerPublic);
  let secret: Uint8Array;
  try {
    secret = new Uint8Array(diffieHellman({ privateKey: priv, publicKey: pub }));
  } catch {
    return weak("X25519 with this peer key gives no secret (low-order point)");
  }
  let any = 0;
  for (let i = 0; i < secret.length; i++) any |= secret[i]!;
  if (any === 0) weak("X25519 with this peer key gives the all-zero secret (low-order point)");
  return secret;
}

/** HKDF-SHA256 (RFC 5869) extract and expand, `length` bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, length));
}

export interface ReportKeyContext {
  lockId: string;
  /** The cloud's report key id, as the state names it and every report's `kid` header carries it. */
  cloudKeyId: Uint8Array;
}

export type DeriveReportKeyOptions = ReportKeyContext &
  (
    | {
        /** The lock's X25519 private key. */ lockPrivate: Uint8Array /** The cloud's report public key. */;
        peerPublic: Uint8Array;
      }
    | {
        /** The cloud's X25519 private key. */ cloudPrivate: Uint8Array /** The lock's X25519 public key. */;
        peerPublic: Uint8Array;
      }
  );

/** HKDF info: CBOR `["latchkey-report-key-v1", lockId, cloudKeyId, lockPublic, cloudPublic]` (docs/reports.md). */
export function reportKeyInfo(context: ReportKeyContext, lockPublic: Uint8Array, cloudPublic: Uint8Array): Uint8Array {
  if (!isValidLockId(context.lockId))
    throw new ProtocolError("invalid_message", `lock id "${context.lockId}" is not valid`);
  const kid = context.cloudKeyId;
  if (!(kid instanceof Uint8Array) || kid.length === 0 || kid.length > MAX_REPORT_KID_BYTES) {
    throw new ProtocolError("invalid_message", `cloud key id must be 1 to ${MAX_REPORT_KID_BYTES} bytes`);
  }
  return encodeCbor([REPORT_KEY_LABEL, context.lockId, kid, lockPublic, cloudPublic]);
}

/**
 * The 32-byte report key, the same from either side: the lock calls it with its private key and the cloud's public
 * report key, the cloud with its private report key and the lock's public key.
 */
export function deriveReportKey(options: DeriveReportKeyOptions): Uint8Array {
  // The private key imported once for both its public half and the agreement (an import costs as much as the X25519).
  const own = importPrivate("lockPrivate" in options ? options.lockPrivate : options.cloudPrivate);
  const ownPublic = publicOf(own);
  const [lockPublic, cloudPublic] =
    "lockPrivate" in options ? [ownPublic, options.peerPublic] : [options.peerPublic, ownPublic];
  const secret = sharedSecret(own, options.peerPublic);
  const info = reportKeyInfo(options, lockPublic, cloudPublic);
  const key = hkdfSha256(secret, REPORT_KEY_SALT, info, REPORT_KEY_BYTES);
  secret.fill(0);
  return key;
}
