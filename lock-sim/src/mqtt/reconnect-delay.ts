import type { RandomSource } from "../random.js";

/**
 * How long a lock waits before its next connection attempt (docs/mqtt.md "Reconnecting"): the period after a drop,
 * doubled by each failed attempt up to `maxMs`, then spread ±50 % by the lock's random source. Without the spread, a
 * site's locks that lost their broker at the same moment (a bridge restart, a power cut) would all come back in the
 * same millisecond, every time: the reconnect storm a broker's accept queue has to absorb. Never below 1 ms, as
 * mqtt.js reads 0 as "do not reconnect".
 */
export function reconnectDelayMs(attempt: number, periodMs: number, maxMs: number, random: RandomSource): number {
  const base = Math.min(maxMs, periodMs * 2 ** Math.min(attempt, 30));
  const [hi = 0, lo = 0] = random(2);
  const spread = ((hi << 8) | lo) / 65_536; // [0, 1)
  return Math.max(1, Math.round(base * (0.5 + spread)));
}
