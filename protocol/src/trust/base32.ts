/**
 * RFC 4648 base32 (upper case, no padding): its alphabet is a subset of QR's alphanumeric mode, so a setup code prints
 * as a compact QR code, and a person reading it aloud has no case to get wrong.
 */
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const VALUES = new Map([...ALPHABET].map((c, i) => [c, i]));

/**
 * Five bits a character, no padding. `alphabet` (32 characters) lets the cloud's ids share this one encoder with their
 * own sortable, lower-case Crockford alphabet.
 */
export function toBase32(bytes: Uint8Array, alphabet: string = ALPHABET): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += alphabet[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

/** Strict: upper-case alphabet only, and the unused trailing bits must be zero (one text per byte string). */
export function fromBase32(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let i = 0;
  for (const c of text) {
    const v = VALUES.get(c);
    if (v === undefined) return undefined;
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[i++] = (buffer >> bits) & 0xff;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits >= 5 || buffer !== 0) return undefined;
  return out;
}
