import { createHash } from "node:crypto";

/**
 * A seeded source of numbers in [0, 1) (SHA-256 in counter mode): the same seed gives the same fault plan on every
 * run, so a failure can be replayed.
 */
export function seededFraction(seed: string): () => number {
  let counter = 0;
  let block = Buffer.alloc(0);
  let offset = 0;
  return () => {
    if (offset + 4 > block.length) {
      block = createHash("sha256").update(`${seed}/${counter++}`).digest();
      offset = 0;
    }
    const value = block.readUInt32BE(offset) / 2 ** 32;
    offset += 4;
    return value;
  };
}

/** An integer in [min, max] from a seeded source. */
export const seededInt = (random: () => number, min: number, max: number): number =>
  min + Math.floor(random() * (max - min + 1));
