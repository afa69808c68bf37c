import type { Clock } from "@latchkey/protocol";
import type { ClockRecord } from "../flash/lock-flash.js";

/**
 * The lock's real-time clock. It reads the injected base clock through a drift model:
 * `rtc = anchorRtc + (base − anchorBase) × (1 + ppm/10⁶)`, set at manufacture to `base + offset`.
 * Like real lock firmware it
 * - only moves forward once set: a reading never goes below the highest one given out (so neither a base clock that
 *   steps back nor a sync can revive an expired key), and a sync can advance it but never set it back;
 * - can lose its time (a clock reset, e.g. its backup cell died): then it is "unset" and reads null until a sync brings
 *   trusted time, and the lock refuses every key, since all keys are time-bound.
 */
export interface DriftOptions {
  /** Rate error in parts per million: +100 runs fast by 8.64 s a day, −100 slow by as much. Default 0. */
  ppm?: number;
  /** Offset from the base clock at first boot, in seconds (default 0). */
  offsetSeconds?: number;
}

export type ClockAdjustment = "set" | "advanced" | "unchanged";

export class RealTimeClock {
  private state: ClockRecord;
  private readonly rate: number;

  constructor(
    private readonly base: Clock,
    record: ClockRecord,
    ppm: number,
    private readonly persist: (record: ClockRecord) => void,
  ) {
    this.state = { ...record };
    this.rate = 1 + ppm / 1_000_000;
  }

  /** A new clock's flash record: set at manufacture to the base time plus the offset, or unset. */
  static initialRecord(base: Clock, drift: DriftOptions, unset: boolean): ClockRecord {
    const baseMs = base.now();
    const rtcMs = baseMs + Math.round((drift.offsetSeconds ?? 0) * 1000);
    return { set: !unset, rtcAnchorMs: rtcMs, baseAnchorMs: baseMs, floorMs: unset ? 0 : rtcMs };
  }

  get isSet(): boolean {
    return this.state.set;
  }

  /** Milliseconds by the RTC, or null when it has no time. */
  nowMs(): number | null {
    if (!this.state.set) return null;
    const ms = Math.floor(this.state.rtcAnchorMs + (this.base.now() - this.state.baseAnchorMs) * this.rate);
    if (ms > this.state.floorMs) this.state.floorMs = ms;
    return this.state.floorMs;
  }

  /** Unix seconds by the RTC, or null when unset. */
  nowSeconds(): number | null {
    const ms = this.nowMs();
    return ms === null ? null : Math.floor(ms / 1000);
  }

  /**
   * The time to stamp an event with: the RTC, or while it is unset the last time it knew (kept in flash), so events
   * stay ordered and inside the cloud's retention window instead of dating from 1970.
   */
  stampSeconds(): number {
    return Math.floor((this.nowMs() ?? this.state.floorMs) / 1000);
  }

  /** The highest reading given out, for the flash (written with every event). */
  get floorMs(): number {
    return this.state.floorMs;
  }

  /** Trusted time from a sync: sets an unset clock, advances a clock that is behind, never sets one back. */
  adopt(trustedMs: number, toleranceMs = 1000): ClockAdjustment {
    const current = this.nowMs();
    if (current !== null && trustedMs < current + toleranceMs) return "unchanged";
    const adjustment: ClockAdjustment = current === null ? "set" : "advanced";
    this.state = {
      set: true,
      rtcAnchorMs: trustedMs,
      baseAnchorMs: this.base.now(),
      floorMs: Math.max(this.state.floorMs, trustedMs),
    };
    this.persist(this.state);
    return adjustment;
  }

  /** Fault injection: the clock loses its time. */
  reset(): void {
    this.nowMs();
    this.state = { ...this.state, set: false };
    this.persist(this.state);
  }

  record(): ClockRecord {
    this.nowMs();
    return { ...this.state };
  }
}
