/** Operations per second of `fn`, run in batches of 50 for at least `minMs`. */
export function opsPerSecond(fn: () => void, minMs: number): number {
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(minMs * 1_000_000));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
