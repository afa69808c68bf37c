import { type BatteryState, batteryStateFor } from "@latchkey/protocol";
import type { BatteryRecord } from "../flash/lock-flash.js";

/**
 * Battery model of a lock on two lithium AA cells. Charge falls by a fixed amount per actuation (a motor run) and per
 * day idle (electronics and radio); the voltage follows the level linearly between `emptyMv` and `fullMv`. States use
 * protocol's documented thresholds: `low` at or below 20 %, `critical` at or below 5 %. At 0 % the motor cannot run.
 */
export interface BatteryOptions {
  /** Level at first boot, percent (default 100). Later boots read it from flash. */
  level?: number;
  /** Percent used per actuation (default 0.01: about 10,000 motor runs on a set of cells). */
  perActuation?: number;
  /** Percent used per idle day (default 0.1: about 2.7 years on the shelf). */
  perIdleDay?: number;
  /** Millivolts at 100 % (default 3200) and at 0 % (default 2400). */
  fullMv?: number;
  emptyMv?: number;
}

export interface BatteryReading {
  level: number;
  mv: number;
  state: BatteryState;
}

const DAY_MS = 86_400_000;
/** Idle drain is booked in steps of at least a minute, so a fleet does not write its flash every tick. */
const IDLE_STEP_MS = 60_000;

export class Battery {
  private record: BatteryRecord;
  private readonly perActuation: number;
  private readonly perIdleDay: number;
  private readonly fullMv: number;
  private readonly emptyMv: number;

  constructor(
    record: BatteryRecord,
    options: BatteryOptions,
    private readonly persist: (record: BatteryRecord) => void,
  ) {
    this.record = { ...record };
    this.perActuation = options.perActuation ?? 0.01;
    this.perIdleDay = options.perIdleDay ?? 0.1;
    this.fullMv = options.fullMv ?? 3200;
    this.emptyMv = options.emptyMv ?? 2400;
  }

  static initialRecord(options: BatteryOptions, baseNowMs: number): BatteryRecord {
    const charge = clamp(options.level ?? 100);
    return { charge, idleAnchorMs: baseNowMs, state: batteryStateFor(Math.round(charge)) };
  }

  reading(): BatteryReading {
    const level = Math.round(this.record.charge);
    const mv = Math.round(this.emptyMv + ((this.fullMv - this.emptyMv) * this.record.charge) / 100);
    return { level, mv, state: batteryStateFor(level) };
  }

  get empty(): boolean {
    return this.record.charge <= 0;
  }

  /** One motor run. Returns the state crossing, if any. */
  actuation(): BatteryState | null {
    return this.drain(this.perActuation, this.record.idleAnchorMs);
  }

  /** Applies idle drain for whole base-clock time elapsed since the last call. */
  idle(baseNowMs: number): BatteryState | null {
    const elapsed = baseNowMs - this.record.idleAnchorMs;
    if (elapsed < IDLE_STEP_MS) return null;
    return this.drain((elapsed / DAY_MS) * this.perIdleDay, baseNowMs);
  }

  /** Fresh cells (or any level): for tests and demos. */
  replace(level: number, baseNowMs: number): void {
    const charge = clamp(level);
    this.record = { charge, idleAnchorMs: baseNowMs, state: batteryStateFor(Math.round(charge)) };
    this.persist(this.record);
  }

  private drain(amount: number, idleAnchorMs: number): BatteryState | null {
    const before = this.record.state;
    const charge = clamp(this.record.charge - amount);
    const state = batteryStateFor(Math.round(charge));
    this.record = { charge, idleAnchorMs, state };
    this.persist(this.record);
    return rank(state) > rank(before) ? state : null;
  }
}

const clamp = (level: number) => Math.min(100, Math.max(0, Number.isFinite(level) ? level : 100));
const rank = (s: BatteryState) => (s === "ok" ? 0 : s === "low" ? 1 : 2);
