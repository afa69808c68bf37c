import { createHash, randomBytes } from "node:crypto";

/** Where a lock or a phone gets random bytes (nonces, event ids, device keys). Tests pass a seeded one. */
export type RandomSource = (n: number) => Uint8Array;

export const systemRandom: RandomSource = (n) => new Uint8Array(randomBytes(n));

/**
 * A deterministic byte stream for tests and reproducible simulations: SHA-256 over the seed and a block counter.
 * Not for real keys; for the same seed it always yields the same bytes, so a failing test replays exactly.
 */
export function seededRandom(seed: string | number): RandomSource {
  let counter = 0;
  let pool = new Uint8Array(0);
  let offset = 0;
  return (n) => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (offset === pool.length) {
        pool = new Uint8Array(createHash("sha256").update(`${seed}:${counter++}`).digest());
        offset = 0;
      }
      const take = Math.min(n - filled, pool.length - offset);
      out.set(pool.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
    }
    return out;
  };
}

/** A uniform fraction in [0, 1) drawn from a random source, for jitter. */
export function randomFraction(random: RandomSource): number {
  const b = random(4);
  return (((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!) / 2 ** 32;
}
