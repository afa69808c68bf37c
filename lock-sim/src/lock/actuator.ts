import type { LockState } from "@latchkey/protocol";
import type { ActuatorRecord } from "../flash/lock-flash.js";

/**
 * The bolt motor. An unlock pulls the bolt and the lock re-locks by itself after `relockMs` (real locks do so after a
 * few seconds); a jam fault makes every motor run fail and leaves the lock `jammed` until the fault is cleared.
 */
export type ActuationOutcome = { ok: true } | { ok: false; reason: "jam" | "battery_empty" };

export class Actuator {
  private record: ActuatorRecord;
  private relockAtMs: number | null = null;

  constructor(
    record: ActuatorRecord,
    private readonly relockMs: number,
    private readonly persist: (record: ActuatorRecord) => void,
  ) {
    this.record = { ...record };
  }

  static initialRecord(): ActuatorRecord {
    return { state: "locked", jamFault: false };
  }

  get state(): LockState {
    return this.record.state;
  }

  get jamFault(): boolean {
    return this.record.jamFault;
  }

  /** Runs the motor towards `target`. `batteryEmpty`: there is no power to run it. */
  run(target: "locked" | "unlocked", nowMs: number, batteryEmpty: boolean): ActuationOutcome {
    if (this.record.jamFault || batteryEmpty) {
      this.relockAtMs = null;
      this.save({ state: "jammed", jamFault: this.record.jamFault });
      return { ok: false, reason: this.record.jamFault ? "jam" : "battery_empty" };
    }
    this.relockAtMs = target === "unlocked" ? nowMs + this.relockMs : null;
    this.save({ state: target, jamFault: false });
    return { ok: true };
  }

  /** True when the lock is open and its re-lock time has come. */
  relockDue(nowMs: number): boolean {
    if (this.record.state !== "unlocked") return false;
    // After a restart the timer is gone: an open lock re-locks at the first chance, as firmware does on boot.
    return this.relockAtMs === null || nowMs >= this.relockAtMs;
  }

  setJamFault(on: boolean): void {
    this.save({
      state: on ? this.record.state : this.record.state === "jammed" ? "locked" : this.record.state,
      jamFault: on,
    });
  }

  private save(record: ActuatorRecord): void {
    this.record = record;
    this.persist(record);
  }
}
