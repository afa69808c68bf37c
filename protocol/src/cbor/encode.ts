import { Encoder, Tag } from "cbor-x";
import { CborTag, type CborValue } from "./tag.js";

/**
 * The one encoder for everything latchkey signs or sends: definite lengths, preferred integer and length
 * encoding, byte strings untagged (cbor-x's defaults tag Uint8Array with tag 64 and use records, which
 * other COSE libraries reject). Options are the contract of docs/design.md section 2.
 */
const options = {
  useRecords: false,
  mapsAsObjects: false,
  useTag259ForMaps: false, // honoured by cbor-x at run time, missing from its type declarations
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
};
const encoder = new Encoder(options as ConstructorParameters<typeof Encoder>[0]);

/**
 * Encodes a value deterministically. Plain objects become maps with text keys (in insertion order);
 * Maps keep their keys' types (COSE and CWT use integer labels). `undefined` object properties are skipped.
 */
export function encodeCbor(value: CborValue | Record<string, unknown> | unknown): Uint8Array {
  const out = encoder.encode(prepare(value));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

const TWO_32 = 2 ** 32;

/**
 * Rewrites a value into what cbor-x encodes the way we want: our CborTag becomes cbor-x's Tag, plain objects
 * become Maps without their undefined properties, and whole numbers of 2^32 and beyond become BigInt,
 * because cbor-x would otherwise write them as float64 and the strict decoder refuses floats.
 */
function prepare(value: unknown): unknown {
  if (typeof value === "number") {
    return Number.isInteger(value) && (value >= TWO_32 || value <= -TWO_32) ? BigInt(value) : value;
  }
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (value instanceof CborTag) return new Tag(prepare(value.value), value.tag);
  if (value instanceof Tag) return new Tag(prepare(value.value), value.tag);
  if (Array.isArray(value)) return value.map(prepare);
  const out = new Map<unknown, unknown>();
  const entries = value instanceof Map ? value.entries() : Object.entries(value);
  for (const [k, v] of entries) if (v !== undefined) out.set(k, prepare(v));
  return out;
}

/** Builds a CBOR head (major type and argument) in its shortest form; used to frame signed byte strings. */
export function cborHead(major: number, length: number): Uint8Array {
  const m = major << 5;
  if (length < 24) return Uint8Array.of(m | length);
  if (length < 0x100) return Uint8Array.of(m | 24, length);
  if (length < 0x10000) return Uint8Array.of(m | 25, length >> 8, length & 0xff);
  return Uint8Array.of(m | 26, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
}
