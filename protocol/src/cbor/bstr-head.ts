/**
 * Byte-string heads (major type 2) in their shortest form, written in place. The COSE structures that are signed or
 * MACed (`Sig_structure`, `MAC_structure`) are laid out by hand on the verification hot path; both use these.
 */

/** How many bytes the head of a byte string of `length` bytes takes. */
export function bstrHeadLength(length: number): number {
  return length < 24 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** Writes a byte-string head (major type 2) in its shortest form; answers the offset after it. */
export function writeBstrHead(out: Uint8Array, offset: number, length: number): number {
  if (length < 24) {
    out[offset] = 0x40 | length;
    return offset + 1;
  }
  if (length < 0x100) {
    out[offset] = 0x58;
    out[offset + 1] = length;
    return offset + 2;
  }
  if (length < 0x10000) {
    out[offset] = 0x59;
    out[offset + 1] = length >> 8;
    out[offset + 2] = length & 0xff;
    return offset + 3;
  }
  out[offset] = 0x5a;
  new DataView(out.buffer, out.byteOffset + offset + 1, 4).setUint32(0, length);
  return offset + 5;
}
