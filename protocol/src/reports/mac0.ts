import { createHmac, timingSafeEqual } from "node:crypto";
import { bstrHeadLength, writeBstrHead } from "../cbor/bstr-head.js";
import { encodeCbor } from "../cbor/encode.js";
import { decodeStrict } from "../cbor/strict-decode.js";
import { type CborKey, CborTag, type CborValue } from "../cbor/tag.js";
import { ProtocolError } from "../errors.js";

/**
 * COSE_Mac0 (RFC 9052 section 6.2) with HMAC 256/256 (alg 5, RFC 9053 section 3.1: HMAC-SHA256, full 32-byte tag),
 * the envelope of a lock's report (docs/reports.md). Generic over the header and payload; the report rules (which
 * labels, which `typ`) are checked by ./report.ts.
 */

export const COSE_MAC0_TAG = 17;
/** HMAC 256/256 (RFC 9053 table 7). */
export const ALG_HMAC_256_256 = 5;
export const HMAC_TAG_BYTES = 32;

export type Mac0Header = Map<CborKey, CborValue>;

export interface Mac0 {
  /** The protected header exactly as it was MACed. */
  protectedBytes: Uint8Array;
  protectedHeader: Mac0Header;
  unprotectedHeader: Mac0Header;
  payload: Uint8Array;
  tag: Uint8Array;
}

const EMPTY = new Uint8Array(0);
// `[` of four items, then the text "MAC0": the fixed start of every MAC structure.
const MAC0_PREFIX = Uint8Array.of(0x84, 0x64, 0x4d, 0x41, 0x43, 0x30);

/**
 * The bytes that are MACed: `["MAC0", protected, external_aad, payload]` (RFC 9052 section 6.3). Built by hand in one
 * buffer rather than through the encoder: it is on the ingest hot path and its layout is fixed.
 */
export function macStructure(protectedBytes: Uint8Array, externalAad: Uint8Array, payload: Uint8Array): Uint8Array {
  const length =
    MAC0_PREFIX.length +
    bstrHeadLength(protectedBytes.length) +
    protectedBytes.length +
    bstrHeadLength(externalAad.length) +
    externalAad.length +
    bstrHeadLength(payload.length) +
    payload.length;
  const out = new Uint8Array(length);
  out.set(MAC0_PREFIX);
  let offset = MAC0_PREFIX.length;
  for (const part of [protectedBytes, externalAad, payload]) {
    offset = writeBstrHead(out, offset, part.length);
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** HMAC-SHA256 over the MAC structure. */
export function mac0Tag(
  key: Uint8Array,
  protectedBytes: Uint8Array,
  payload: Uint8Array,
  externalAad: Uint8Array = EMPTY,
): Uint8Array {
  return createHmac("sha256", key)
    .update(macStructure(protectedBytes, externalAad, payload))
    .digest();
}

export interface EncodeMac0Options {
  protectedHeader: Mac0Header;
  payload: Uint8Array;
  key: Uint8Array;
  externalAad?: Uint8Array;
}

/** `17([protected, {}, payload, tag])`, always tagged: a report's type is never left to context. */
export function encodeMac0(options: EncodeMac0Options): Uint8Array {
  const protectedBytes = encodeCbor(options.protectedHeader);
  const tag = mac0Tag(options.key, protectedBytes, options.payload, options.externalAad);
  return encodeCbor(new CborTag(COSE_MAC0_TAG, [protectedBytes, new Map(), options.payload, tag]));
}

function malformed(message: string): never {
  throw new ProtocolError("malformed", message);
}

/** A COSE_Mac0 whose protected header is not decoded yet (`decodeMac0Envelope`). */
export type Mac0Envelope = Omit<Mac0, "protectedHeader">;

/**
 * The outer COSE_Mac0 structure with the strict decoder, its protected header left as bytes; throws
 * ProtocolError(`malformed`) for anything out of shape: no tag 17 (a COSE_Sign1 key token or signed state is tag 18),
 * not four items, a protected header that is not a non-empty byte string, or a detached payload. `decodeMac0` is this
 * and the protected header's own checks.
 */
export function decodeMac0Envelope(bytes: Uint8Array, options: { maxBytes?: number } = {}): Mac0Envelope {
  const item = decodeStrict(
    bytes,
    options.maxBytes === undefined ? { maxDepth: 4 } : { maxBytes: options.maxBytes, maxDepth: 4 },
  );
  if (!(item instanceof CborTag)) malformed("not tagged as COSE_Mac0 (17)");
  if (item.tag !== COSE_MAC0_TAG) malformed(`tag ${item.tag} is not COSE_Mac0 (17)`);
  const body = item.value;
  if (!Array.isArray(body) || body.length !== 4) malformed("COSE_Mac0 must be an array of four items");
  const [protectedBytes, unprotectedHeader, payload, tag] = body;
  if (!(protectedBytes instanceof Uint8Array) || protectedBytes.length === 0)
    malformed("protected header must be a non-empty byte string");
  if (!(unprotectedHeader instanceof Map)) malformed("unprotected header must be a map");
  if (!(payload instanceof Uint8Array))
    malformed("payload must be a byte string (detached payloads are not supported)");
  if (!(tag instanceof Uint8Array)) malformed("tag must be a byte string");
  return { protectedBytes, unprotectedHeader, payload, tag };
}

/**
 * Decodes the COSE_Mac0 structure with the strict decoder; throws ProtocolError(`malformed`) for anything out of
 * shape: what `decodeMac0Envelope` refuses, a protected header that does not encode a map, or a label both protected
 * and unprotected.
 */
export function decodeMac0(bytes: Uint8Array, options: { maxBytes?: number } = {}): Mac0 {
  const e = decodeMac0Envelope(bytes, options);
  const protectedHeader = decodeMac0Protected(e);
  return {
    protectedBytes: e.protectedBytes,
    protectedHeader,
    unprotectedHeader: e.unprotectedHeader,
    payload: e.payload,
    tag: e.tag,
  };
}

/** The protected header of an envelope: an encoded map, none of whose labels is also unprotected. */
export function decodeMac0Protected(envelope: Mac0Envelope): Mac0Header {
  const protectedHeader = decodeStrict(envelope.protectedBytes, { maxDepth: 1 });
  if (!(protectedHeader instanceof Map)) malformed("protected header must encode a map");
  for (const label of protectedHeader.keys()) {
    if (envelope.unprotectedHeader.has(label))
      malformed(`header label ${String(label)} is both protected and unprotected`);
  }
  return protectedHeader;
}

/** Recomputes the tag and compares in constant time; a tag of another length is simply wrong. */
export function verifyMac0Tag(message: Mac0Envelope, key: Uint8Array, externalAad: Uint8Array = EMPTY): boolean {
  if (message.tag.length !== HMAC_TAG_BYTES) return false;
  const expected = mac0Tag(key, message.protectedBytes, message.payload, externalAad);
  return timingSafeEqual(expected, message.tag);
}
