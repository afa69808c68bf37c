import { decodeStrict, type StrictDecodeOptions } from "../cbor/strict-decode.js";
import type { CborKey, CborValue } from "../cbor/tag.js";
import { ProtocolError } from "../errors.js";

/**
 * Reads the fields of a decoded lock message (a CBOR map with text keys), checking each one's type and range.
 * Every failure is a ProtocolError(`invalid_message`) naming the message and the field, so a bridge log line says
 * exactly which lock sent what. Unknown fields are ignored: newer firmware may add some.
 */
export class Fields {
  constructor(
    private readonly map: Map<CborKey, CborValue>,
    private readonly what: string,
  ) {}

  static decode(bytes: Uint8Array, what: string, options?: StrictDecodeOptions): Fields {
    const value = decodeStrict(bytes, options);
    if (!(value instanceof Map)) throw new ProtocolError("invalid_message", `${what}: not a CBOR map`);
    return new Fields(value, what);
  }

  fail(name: string, expected: string): never {
    throw new ProtocolError("invalid_message", `${this.what}: field "${name}" must be ${expected}`);
  }

  has(name: string): boolean {
    return this.map.get(name) !== undefined;
  }

  raw(name: string): CborValue {
    return this.map.get(name);
  }

  text(name: string, maxLength = 256, pattern?: RegExp): string {
    const v = this.map.get(name);
    if (typeof v !== "string" || v.length === 0 || v.length > maxLength || (pattern && !pattern.test(v))) {
      this.fail(name, `text of 1 to ${maxLength} characters${pattern ? ` matching ${pattern}` : ""}`);
    }
    return v;
  }

  int(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.map.get(name);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
      this.fail(name, `an integer from ${min} to ${max}`);
    }
    return v;
  }

  bool(name: string): boolean {
    const v = this.map.get(name);
    if (typeof v !== "boolean") this.fail(name, "true or false");
    return v;
  }

  bytes(name: string, length?: number, maxLength = 4096): Uint8Array {
    const v = this.map.get(name);
    if (!(v instanceof Uint8Array) || (length !== undefined && v.length !== length) || v.length > maxLength) {
      this.fail(
        name,
        length === undefined ? `a byte string of at most ${maxLength} bytes` : `a ${length}-byte byte string`,
      );
    }
    return v;
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T {
    const v = this.map.get(name);
    if (typeof v !== "string" || !(values as readonly string[]).includes(v))
      this.fail(name, `one of ${values.join(", ")}`);
    return v as T;
  }

  array(name: string, maxItems: number): CborValue[] {
    const v = this.map.get(name);
    if (!Array.isArray(v) || v.length > maxItems) this.fail(name, `an array of at most ${maxItems} items`);
    return v;
  }

  /** Optional field: undefined when absent, else read with `read`. */
  optional<T>(name: string, read: (name: string) => T): T | undefined {
    return this.has(name) ? read(name) : undefined;
  }

  nested(name: string, value: CborValue): Fields {
    if (!(value instanceof Map)) this.fail(name, "a map");
    return new Fields(value, `${this.what}.${name}`);
  }
}

/** Lock ids appear in MQTT topics and token `aud`: no topic wildcards or separators, bounded length. */
export const LOCK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export function isValidLockId(id: unknown): id is string {
  return typeof id === "string" && LOCK_ID_PATTERN.test(id);
}
