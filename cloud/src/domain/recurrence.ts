import { isValidTimeZone, type ScheduleWindow, scheduleProblem } from "@latchkey/protocol";
import type { Recurrence } from "@latchkey/protocol/contracts";
import type { LockRecord } from "../store/records.js";
import { invalid, unprocessable } from "./errors.js";

const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;

/**
 * A recurrence as the lock enforces it (docs/design.md section 2 "Schedule"): ISO weekdays and minutes after local
 * midnight. A window ending at or before its start runs past midnight, so it becomes two: to the end of its day, and
 * from the next day's midnight (Sunday's night runs into Monday).
 */
export function scheduleOf(recurrence: Recurrence, field = "body.recurrence"): ScheduleWindow[] {
  const windows: ScheduleWindow[] = [];
  for (const [index, day] of DAYS.entries()) {
    for (const [i, w] of (recurrence[day] ?? []).entries()) {
      const at = `${field}.${day}.${i}`;
      if (w.endHour === 24 && w.endMinute !== 0) throw invalid(`${at}: endHour 24 takes endMinute 0`);
      const start = w.startHour * 60 + w.startMinute;
      const end = w.endHour * 60 + w.endMinute;
      if (end > start) windows.push({ day: index + 1, start, end });
      else {
        windows.push({ day: index + 1, start, end: 1440 });
        if (end > 0) windows.push({ day: ((index + 1) % 7) + 1, start: 0, end });
      }
    }
  }
  const problem = scheduleProblem(windows);
  if (problem !== null) throw invalid(`${field}: ${problem.replace(/^window \d+: /, "")}`);
  return windows;
}

/** A recurring key is read in its lock's timezone: the lock must have a valid one before such a key is made. */
export function assertRecurrenceFits(lock: LockRecord, recurrence: Recurrence | null | undefined, field: string): void {
  if (!recurrence) return;
  scheduleOf(recurrence, `${field}.recurrence`);
  if (!isValidTimeZone(lock.timezone))
    throw unprocessable(
      `lock ${lock.id} has no timezone: a recurring key is read in the lock's own timezone; set it first (PATCH …/locks/${lock.id} {"timezone": "Europe/Oslo"})`,
      "lock_timezone_required",
    );
}
