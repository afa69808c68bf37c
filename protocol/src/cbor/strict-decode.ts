import { ProtocolError, type ProtocolErrorCode } from "../errors.js";
import { type CborKey, CborTag, type CborValue } from "./tag.js";

/**
 * A strict CBOR (RFC 8949) decoder for untrusted bytes: key tokens from phones, messages from locks.
 *
 * It accepts only what our encoder produces and rejects the rest as `malformed`:
 * - definite lengths only (indefinite-length items and `break` are refused),
 * - preferred (shortest) encoding of integers, lengths and tag numbers,
 * - map keys that are integers or text, each at most once,
 * - text that is valid UTF-8, simple values false/true/null/undefined only, no floats unless `allowFloats`,
 * - no bytes after the top-level item, at most `maxBytes` in all and `maxDepth` levels of nesting.
 * Byte strings are returned as views into the input (no copy), so signed bytes stay byte-exact.
 */
export interface StrictDecodeOptions {
  /** Largest input accepted, in bytes. */
  maxBytes?: number;
  /** Deepest nesting of arrays, maps and tags accepted. */
  maxDepth?: number;
  /** Most items accepted in one array or map: bounds the work an attacker can ask for. */
  maxItems?: number;
  /** Floats are refused unless asked for: no latchkey message carries one, and integer fields must not arrive as floats. */
  allowFloats?: boolean;
  /**
   * The code nesting beyond `maxDepth` is reported with. `malformed` unless asked: the signed documents of
   * docs/trust.md report it as `too_deep`, and existing message decoders keep their code.
   */
  depthCode?: ProtocolErrorCode;
}

export const DEFAULT_MAX_BYTES = 64 * 1024;
export const DEFAULT_MAX_DEPTH = 16;
export const DEFAULT_MAX_ITEMS = 4096;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const latin1Slice = (
  Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }
).latin1Slice;

function fail(message: string, offset: number): never {
  throw new ProtocolError("malformed", `${message} at byte ${offset}`);
}

class Reader {
  offset = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly maxDepth: number,
    readonly maxItems: number,
    readonly allowFloats: boolean,
    readonly depthCode: ProtocolErrorCode,
  ) {}

  tooDeep(start: number): never {
    throw new ProtocolError(this.depthCode, `nesting deeper than ${this.maxDepth} levels at byte ${start}`);
  }

  /** Reads the argument of a head (RFC 8949 section 3) and checks it is in its shortest form. */
  argument(info: number, start: number): number | bigint {
    const b = this.bytes;
    if (info < 24) return info;
    let value: number | bigint;
    switch (info) {
      case 24:
        this.need(1, start);
        value = b[this.offset]!;
        this.offset += 1;
        if (value < 24) fail("non-preferred encoding", start);
        return value;
      case 25:
        this.need(2, start);
        value = (b[this.offset]! << 8) | b[this.offset + 1]!;
        this.offset += 2;
        if (value < 0x100) fail("non-preferred encoding", start);
        return value;
      case 26:
        this.need(4, start);
        value =
          (b[this.offset]! * 0x1000000 +
            ((b[this.offset + 1]! << 16) | (b[this.offset + 2]! << 8) | b[this.offset + 3]!)) >>>
          0;
        this.offset += 4;
        if (value < 0x10000) fail("non-preferred encoding", start);
        return value;
      case 27: {
        this.need(8, start);
        const view = new DataView(b.buffer, b.byteOffset + this.offset, 8);
        const big = view.getBigUint64(0);
        this.offset += 8;
        if (big < 0x100000000n) fail("non-preferred encoding", start);
        return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      }
      case 31:
        return fail("indefinite length", start);
      default:
        return fail("reserved additional information", start);
    }
  }

  need(n: number, start: number): void {
    if (this.offset + n > this.bytes.length) fail("unexpected end of input", start);
  }

  length(info: number, start: number): number {
    const n = this.argument(info, start);
    // Any length beyond the remaining input cannot be satisfied; rejecting it here avoids huge allocations.
    if (typeof n === "bigint" || n > this.bytes.length - this.offset) fail("length exceeds input", start);
    return n as number;
  }

  item(depth: number): CborValue {
    const start = this.offset;
    this.need(1, start);
    const initial = this.bytes[this.offset]!;
    this.offset += 1;
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case 0:
        return this.argument(info, start);
      case 1: {
        const n = this.argument(info, start);
        return typeof n === "bigint" ? -1n - n : n >= Number.MAX_SAFE_INTEGER ? -1n - BigInt(n) : -1 - n;
      }
      case 2: {
        const len = this.length(info, start);
        const out = this.bytes.subarray(this.offset, this.offset + len);
        this.offset += len;
        return out;
      }
      case 3: {
        const len = this.length(info, start);
        const from = this.offset;
        this.offset += len;
        return this.text(from, len, start);
      }
      case 4: {
        const len = this.length(info, start);
        if (len > this.maxItems) fail("too many array items", start);
        if (depth >= this.maxDepth) this.tooDeep(start);
        const out: CborValue[] = new Array(len);
        for (let i = 0; i < len; i++) out[i] = this.item(depth + 1);
        return out;
      }
      case 5: {
        const len = this.length(info, start);
        if (len > this.maxItems) fail("too many map entries", start);
        if (depth >= this.maxDepth) this.tooDeep(start);
        const out = new Map<CborKey, CborValue>();
        const b = this.bytes;
        for (let i = 0; i < len; i++) {
          const keyStart = this.offset;
          let key: CborValue;
          // Labels 0-23 (every label of our messages) are one byte: read here, not through a call per entry.
          if (keyStart < b.length && b[keyStart]! < 24) {
            key = b[keyStart]!;
            this.offset = keyStart + 1;
          } else {
            key = this.item(depth + 1);
            if (typeof key !== "number" && typeof key !== "string" && typeof key !== "bigint") {
              fail("map key is not an integer or text", keyStart);
            }
          }
          // A key seen before leaves the size as it was: one lookup instead of `has` and `set`.
          const size = out.size;
          out.set(key, this.item(depth + 1));
          if (out.size === size) fail("duplicate map key", keyStart);
        }
        return out;
      }
      case 6: {
        const tag = this.argument(info, start);
        if (typeof tag === "bigint") fail("tag number too large", start);
        if (depth >= this.maxDepth) this.tooDeep(start);
        return new CborTag(tag as number, this.item(depth + 1));
      }
      default:
        return this.simple(info, start);
    }
  }

  /** Short ASCII text (claims, field names, ids) is the common case and decodes without TextDecoder's overhead. */
  text(from: number, len: number, start: number): string {
    const b = this.bytes;
    if (len > 256) return this.utf8(from, len, start);
    for (let i = from; i < from + len; i++) if (b[i]! >= 0x80) return this.utf8(from, len, start);
    // ASCII is also Latin-1: Buffer's native latin1 slice decodes it without TextDecoder's per-call cost.
    return latin1Slice.call(b, from, from + len);
  }

  utf8(from: number, len: number, start: number): string {
    try {
      return utf8.decode(this.bytes.subarray(from, from + len));
    } catch {
      return fail("text is not valid UTF-8", start);
    }
  }

  simple(info: number, start: number): CborValue {
    const b = this.bytes;
    if (info >= 25 && info <= 27 && !this.allowFloats) fail("floating-point number", start);
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 25: {
        this.need(2, start);
        const v = halfToNumber((b[this.offset]! << 8) | b[this.offset + 1]!);
        this.offset += 2;
        return v;
      }
      case 26: {
        this.need(4, start);
        const v = new DataView(b.buffer, b.byteOffset + this.offset, 4).getFloat32(0);
        this.offset += 4;
        return v;
      }
      case 27: {
        this.need(8, start);
        const v = new DataView(b.buffer, b.byteOffset + this.offset, 8).getFloat64(0);
        this.offset += 8;
        return v;
      }
      case 31:
        return fail("unexpected break", start);
      default:
        return fail("unsupported simple value", start);
    }
  }
}

function halfToNumber(half: number): number {
  const exp = (half >> 10) & 0x1f;
  const mant = half & 0x3ff;
  const sign = half & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * 2 ** -14 * (mant / 1024);
  if (exp === 31) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exp - 15) * (1 + mant / 1024);
}

/** Decodes exactly one CBOR item from `bytes`, or throws a ProtocolError with code `malformed`. */
export function decodeStrict(bytes: Uint8Array, options: StrictDecodeOptions = {}): CborValue {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError("malformed", "input is not a byte array");
  if (bytes.length === 0) throw new ProtocolError("malformed", "empty input");
  if (bytes.length > maxBytes)
    throw new ProtocolError("malformed", `input is ${bytes.length} bytes, over the limit of ${maxBytes}`);
  const reader = new Reader(
    bytes,
    options.maxDepth ?? DEFAULT_MAX_DEPTH,
    options.maxItems ?? DEFAULT_MAX_ITEMS,
    options.allowFloats ?? false,
    options.depthCode ?? "malformed",
  );
  const value = reader.item(0);
  if (reader.offset !== bytes.length) fail("trailing bytes after the item", reader.offset);
  return value;
}
