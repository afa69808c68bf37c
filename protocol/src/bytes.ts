/** Byte helpers shared by every codec. Hex is lowercase; base64url is unpadded (RFC 4648 section 5). */

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

const HEX_DIGITS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(bytes: Uint8Array): string {
  // Ids and key ids (8-32 bytes) are hexed on every verification: a table beats creating a Buffer view.
  if (bytes.length <= 64) {
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += HEX_DIGITS[bytes[i]!];
    return out;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Parses hex strictly: an odd length or a non-hex character is an error, never silently truncated. */
export function fromHex(hex: string): Uint8Array {
  if (!HEX_RE.test(hex)) throw new TypeError("not a hex string of whole bytes");
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function isHex(text: string): boolean {
  return HEX_RE.test(text);
}

// Buffer's own encoder, called on the bytes where they are: no Buffer view made per call (the bridge's upload body
// encodes every report of a batch, the cloud every token it answers). The view's offset and length are its own.
const base64urlSlice = (
  Buffer.prototype as unknown as { base64urlSlice: (this: Uint8Array, start: number, end: number) => string }
).base64urlSlice;

export function toBase64Url(bytes: Uint8Array): string {
  return base64urlSlice.call(bytes, 0, bytes.byteLength);
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

export function fromBase64Url(text: string): Uint8Array {
  if (!B64URL_RE.test(text) || text.length % 4 === 1) throw new TypeError("not base64url text");
  return new Uint8Array(Buffer.from(text, "base64url"));
}

/**
 * As `fromBase64Url`, strictly, but into `into` at `offset` rather than a new array: answers a view of the bytes
 * written. For a caller decoding many texts at once (the cloud's report uploads) into one buffer of its own, sized with
 * `base64UrlBytes`; throws TypeError for text that is not base64url or does not fit.
 */
export function fromBase64UrlInto(text: string, into: Buffer, offset: number): Uint8Array {
  if (!B64URL_RE.test(text) || text.length % 4 === 1) throw new TypeError("not base64url text");
  const length = base64UrlBytes(text.length);
  if (offset < 0 || offset + length > into.length) throw new TypeError("no room for the decoded bytes");
  const written = into.write(text, offset, length, "base64url");
  if (written !== length) throw new TypeError("not base64url text");
  return new Uint8Array(into.buffer, into.byteOffset + offset, length);
}

/** The bytes unpadded base64url text of `chars` characters decodes to. */
export const base64UrlBytes = (chars: number): number => Math.floor((chars * 3) / 4);

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
