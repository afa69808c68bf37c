/**
 * A seeded [0, 1) generator (mulberry32): tests and benchmarks pass it where code takes `random`, so backoff jitter,
 * generated rows and probes are the same every run. Not for anything secret.
 */
export function seededRandom(seed = 42): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
