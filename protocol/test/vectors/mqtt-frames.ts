/** MQTT's variable-length "remaining length" (MQTT 3.1.1 section 2.2.3): for tests that build frames byte by byte. */
export function remainingLength(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out.push(byte);
  } while (rest > 0);
  return out;
}
