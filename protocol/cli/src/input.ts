import { readFileSync } from "node:fs";
import { fromBase64Url, isHex } from "../../src/bytes.js";

/** Reads a whole file, or standard input for "-". */
export function readSource(source: string): Buffer {
  return readFileSync(source === "-" ? 0 : source);
}

/**
 * A token arrives as raw CBOR bytes, or as hex or base64url text (docs/design.md section 5). Raw CBOR of a token starts
 * with tag 18 (0xd2) or tag 61 (0xd8 0x3d), bytes that never begin hex or base64url text. Input that is none of
 * the three is passed on as raw bytes, for the verifier to reject as `malformed`.
 */
export function tokenBytesFrom(input: Uint8Array): Uint8Array {
  if (input.length === 0) throw new UsageError("the token input is empty");
  const first = input[0];
  if (first === 0xd2 || first === 0xd8) return new Uint8Array(input);
  const text = Buffer.from(input).toString("latin1").trim();
  if (text.length > 0 && isHex(text)) return new Uint8Array(Buffer.from(text, "hex"));
  try {
    if (text.length > 0) return fromBase64Url(text);
  } catch {
    // not base64url either: fall through to raw bytes
  }
  return new Uint8Array(input);
}

/** A mistake in how the command was called: exit code 2 and a message naming the flag or field. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * A required flag, checked in the action rather than by commander's requiredOption: commander reports a missing
 * required option before an unknown one, so `--bogus` would read "required option --x" (issue 15 item 10).
 */
export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new UsageError(`${flag} is required`);
  return value;
}

export function hexArg(value: string, flag: string, length?: number): Uint8Array {
  if (!isHex(value) || value.length === 0) throw new UsageError(`${flag} must be hex, got "${value}"`);
  const bytes = new Uint8Array(Buffer.from(value, "hex"));
  if (length !== undefined && bytes.length !== length) {
    throw new UsageError(`${flag} must be ${length} bytes (${length * 2} hex characters), got ${bytes.length}`);
  }
  return bytes;
}

export function intArg(value: string, flag: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${flag} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} is out of range`);
  return n;
}
