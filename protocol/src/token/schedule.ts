import { ProtocolError } from "../errors.js";

/**
 * A recurring key's weekly schedule (docs/design.md section 2 "Schedule"): the key opens only inside one of its windows,
 * read in the lock's own IANA time zone (the `tz` of its signed state), so a cleaner's Tuesday key does not open on
 * Wednesday even with no network. Minutes, not seconds: schedules are written by people (Unloc's v1 recurrence is
 * per-weekday hours and minutes), and a whole-minute grid lets the lock check an uncertain clock exactly (see
 * `scheduleAllows`).
 */
export interface ScheduleWindow {
  /** ISO weekday: 1 Monday … 7 Sunday. */
  day: number;
  /** Minutes after local midnight when the window opens, 0–1439. */
  start: number;
  /** Minutes after local midnight when it closes, start+1 … 1440 (a night shift is two windows: …–1440, 0–…). */
  end: number;
}

/** Protected-header label of the schedule. It is listed in `crit`, so a lock that does not know it refuses the key. */
export const SCHEDULE_HEADER_LABEL = -65537;
/** Four windows a day at most: enough for split shifts, small enough for a BLE-carried token. */
export const MAX_SCHEDULE_WINDOWS = 28;
/**
 * A clock less sure than this cannot place a recurring key in its window: the lock refuses instead of guessing (the
 * uncertainty is what the signed time answers leave, docs/trust.md "Time").
 */
export const MAX_SCHEDULE_UNCERTAINTY_SECONDS = 900;

const isWhole = (n: unknown, min: number, max: number): n is number =>
  typeof n === "number" && Number.isSafeInteger(n) && n >= min && n <= max;

/** Why a schedule is not one (null: it is): for the minting side, which must never sign a schedule a lock would refuse. */
export function scheduleProblem(windows: unknown): string | null {
  if (!Array.isArray(windows) || windows.length === 0 || windows.length > MAX_SCHEDULE_WINDOWS)
    return `a schedule is 1 to ${MAX_SCHEDULE_WINDOWS} windows`;
  for (const [i, w] of windows.entries()) {
    const { day, start, end } = (w ?? {}) as Partial<ScheduleWindow>;
    if (!isWhole(day, 1, 7)) return `window ${i}: day must be 1 (Monday) to 7 (Sunday)`;
    if (!isWhole(start, 0, 1439)) return `window ${i}: start must be 0 to 1439 minutes after midnight`;
    if (!isWhole(end, start + 1, 1440)) return `window ${i}: end must be after start and at most 1440`;
  }
  return null;
}

/** The schedule as it travels: `[[day, start, end], …]`. */
export function encodeSchedule(windows: readonly ScheduleWindow[]): number[][] {
  const problem = scheduleProblem(windows);
  if (problem !== null) throw new TypeError(problem);
  return windows.map((w) => [w.day, w.start, w.end]);
}

/** Reads a schedule from the header; anything but a valid one is `malformed` (a key whose rules are unreadable is no key). */
export function decodeSchedule(value: unknown): ScheduleWindow[] {
  const fail = (why: string): never => {
    throw new ProtocolError("malformed", `schedule (${SCHEDULE_HEADER_LABEL}): ${why}`);
  };
  if (!Array.isArray(value)) return fail("must be an array of [day, start, end]");
  const windows = value.map((w) =>
    Array.isArray(w) && w.length === 3
      ? { day: w[0], start: w[1], end: w[2] }
      : fail("each window is [day, start, end]"),
  );
  const problem = scheduleProblem(windows);
  return problem === null ? (windows as ScheduleWindow[]) : fail(problem);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat | undefined {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat("en-US", {
        timeZone,
        weekday: "short",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      });
    } catch {
      return undefined; // RangeError: not a zone this runtime's tz database knows
    }
    // Cache only real zones, and few: a lock has one zone, the cloud a handful per process.
    if (formatters.size < 512) formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is an IANA zone the tz database knows (`Europe/Oslo` yes, `Mars/Olympus` no). */
export function isValidTimeZone(timeZone: unknown): timeZone is string {
  return (
    typeof timeZone === "string" && timeZone.length > 0 && timeZone.length <= 64 && formatterFor(timeZone) !== undefined
  );
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** The local weekday (1–7) and minute of the day (0–1439) of a Unix time in a zone; DST as the tz database says. */
export function localWeekMinute(unixSeconds: number, timeZone: string): { day: number; minute: number } {
  const f = formatterFor(timeZone);
  if (f === undefined) throw new ProtocolError("malformed", `unknown time zone ${JSON.stringify(timeZone)}`);
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const part of f.formatToParts(new Date(unixSeconds * 1000))) {
    if (part.type === "weekday") day = WEEKDAYS[part.value] ?? 0;
    else if (part.type === "hour") hour = Number(part.value);
    else if (part.type === "minute") minute = Number(part.value);
  }
  return { day, minute: hour * 60 + minute };
}

function inWindow(windows: readonly ScheduleWindow[], at: { day: number; minute: number }): boolean {
  return windows.some((w) => w.day === at.day && w.start <= at.minute && at.minute < w.end);
}

/**
 * Whether the schedule allows every instant the clock could be at: `now` ± `uncertainty`. Windows are whole local
 * minutes and every zone's offset is whole minutes, so the allowed set is a union of whole UTC minutes: checking both
 * ends and each minute step between them finds any gap, however short. A clock more uncertain than
 * MAX_SCHEDULE_UNCERTAINTY_SECONDS is refused outright (at most 31 look-ups).
 */
export function scheduleAllows(
  windows: readonly ScheduleWindow[],
  timeZone: string,
  now: number,
  uncertainty = 0,
): boolean {
  if (!(uncertainty >= 0) || uncertainty > MAX_SCHEDULE_UNCERTAINTY_SECONDS) return false;
  const from = now - uncertainty;
  const to = now + uncertainty;
  for (let t = from; t < to; t += 60) if (!inWindow(windows, localWeekMinute(t, timeZone))) return false;
  return inWindow(windows, localWeekMinute(to, timeZone));
}
