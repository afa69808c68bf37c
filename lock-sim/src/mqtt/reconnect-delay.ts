import type { RandomSource } from "../random.js";

/**
 * How long a lock waits before its next connection attempt (docs/mqtt.md "Reconnecting"): a ceiling of the period
 * after a drop, doubled by each failed attempt up to `maxMs`, and the wait drawn uniformly below that ceiling by the
 * lock's random source ("full jitter"). A site's locks that lost their broker at the same moment (a bridge restart, a
 * power cut) would otherwise come back in step, every time: the reconnect storm a broker's accept queue has to absorb.
 * Full jitter, where the wait was spread ±50 % around the ceiling, spreads each attempt over the whole window from 0
 * and lets the attempts of different rounds interleave, so the offered connection rate is the lowest the window
 * allows (and a single lock waits half as long on average). Never below 1 ms, as mqtt.js reads 0 as "do not
 * reconnect".
 */
export function reconnectDelayMs(attempt: number, periodMs: number, maxMs: number, random: RandomSource): number {
  const ceiling = Math.min(maxMs, periodMs * 2 ** Math.min(attempt, 30));
  const [hi = 0, lo = 0] = random(2);
  const spread = ((hi << 8) | lo) / 65_536; // [0, 1)
  return Math.max(1, Math.round(ceiling * spread));
}
