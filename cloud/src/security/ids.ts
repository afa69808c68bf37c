import { randomFillSync } from "node:crypto";
import { type Clock, toBase32 } from "@latchkey/protocol";

/** Source of randomness; injected so tests can be deterministic. */
export type RandomSource = (n: number) => Uint8Array;

const POOL_BYTES = 4096;

/**
 * The system's CSPRNG (node:crypto), drawn 4 KiB at a time: a call into node:crypto costs ~5 µs whatever its size, and
 * a batch of 1,000 keys asks for two small values per key (an id's random part, a cti). Every byte is handed out once
 * (copied out, then zeroed in the pool, so a dump of the pool never shows a secret already issued); requests larger
 * than the pool are drawn on their own.
 */
export function pooledRandom(poolBytes = POOL_BYTES): RandomSource {
  const pool = new Uint8Array(poolBytes);
  let offset = poolBytes;
  return (n) => {
    if (n > poolBytes) return randomFillSync(new Uint8Array(n));
    if (offset + n > poolBytes) {
      randomFillSync(pool);
      offset = 0;
    }
    const out = pool.slice(offset, offset + n);
    pool.fill(0, offset, offset + n);
    offset += n;
    return out;
  };
}

export const systemRandom: RandomSource = pooledRandom();

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lowercase: ids sort as text

export type IdPrefix = "int" | "lh" | "key" | "vc" | "wh" | "job" | "br" | "dev" | "ver" | "msg" | "cl" | "act";

/**
 * Prefixed ids that sort by creation (ULID layout: 48-bit milliseconds, then 80 random bits), monotonic within one
 * millisecond, so `ORDER BY id` is creation order and `startAfterId` pagination is stable.
 */
export class IdGenerator {
  private lastMs = -1;
  private lastRandom: Uint8Array = new Uint8Array(10);

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource = systemRandom,
  ) {}

  next(prefix: IdPrefix): string {
    let ms = this.clock.now();
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      increment(this.lastRandom);
    } else {
      this.lastMs = ms;
      this.lastRandom = this.random(10);
    }
    return `${prefix}_${encodeTime(ms)}${toBase32(this.lastRandom, ALPHABET)}`;
  }
}

function increment(bytes: Uint8Array): void {
  for (let i = bytes.length - 1; i >= 0; i--) {
    const v = (bytes[i]! + 1) & 0xff;
    bytes[i] = v;
    if (v !== 0) return;
  }
}

function encodeTime(ms: number): string {
  let out = "";
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** Ids that reach us in paths and bodies: prefix plus 26 base32 characters. Anything else is simply not found. */
export function isIdOf(prefix: IdPrefix, id: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`).test(id);
}
