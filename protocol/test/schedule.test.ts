import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Alg,
  decodeSign1,
  encodeClaims,
  HeaderLabel,
  isValidTimeZone,
  KEY_TOKEN_TYP,
  localWeekMinute,
  SCHEDULE_HEADER_LABEL,
  type ScheduleWindow,
  scheduleAllows,
  scheduleProblem,
  signSign1,
  type VerifyKeyTokenOptions,
  verifyKeyToken,
} from "../src/index.js";
import { claims, issuer, kid, NOW, token, trust } from "./helpers.js";

/**
 * Recurring keys (docs/design.md section 2 "Schedule"): weekly windows read in the lock's own zone, enforced by the
 * lock with no network. NOW is Friday 2027-01-15 08:00 UTC, 09:00 in Oslo (CET).
 */
const OSLO = "Europe/Oslo";
const at = (iso: string) => Date.parse(iso) / 1000;
const FRIDAY_8_TO_10: ScheduleWindow[] = [{ day: 5, start: 8 * 60, end: 10 * 60 }];
const options = (extra: Partial<VerifyKeyTokenOptions> = {}): VerifyKeyTokenOptions => ({
  trust,
  lockId: "lock-1",
  now: NOW,
  timeZone: OSLO,
  ...extra,
});
const long = { exp: NOW + 30 * 86_400 };

describe("schedule windows", () => {
  it("names what is wrong with a schedule, and accepts a valid one", () => {
    expect(scheduleProblem(FRIDAY_8_TO_10)).toBeNull();
    expect(scheduleProblem([{ day: 7, start: 0, end: 1440 }])).toBeNull();
    expect(scheduleProblem([])).toMatch(/1 to 28 windows/);
    expect(scheduleProblem(Array.from({ length: 29 }, () => FRIDAY_8_TO_10[0]))).toMatch(/1 to 28 windows/);
    expect(scheduleProblem([{ day: 0, start: 0, end: 60 }])).toMatch(/window 0: day must be 1 \(Monday\)/);
    expect(scheduleProblem([{ day: 1, start: 1440, end: 1441 }])).toMatch(/start must be 0 to 1439/);
    expect(scheduleProblem([{ day: 1, start: 600, end: 600 }])).toMatch(/end must be after start/);
    expect(scheduleProblem([{ day: 1, start: 60.5, end: 600 }])).toMatch(/start must be/);
  });

  it("knows the tz database's zones and nothing else", () => {
    for (const zone of [OSLO, "America/New_York", "UTC", "Asia/Kolkata"]) expect(isValidTimeZone(zone)).toBe(true);
    for (const zone of ["Mars/Olympus", "", "Europe/Oslo ", 42, null, "x".repeat(65)])
      expect(isValidTimeZone(zone)).toBe(false);
  });

  it("reads local weekday and minute across both DST changes of 2026 in Oslo", () => {
    // Spring forward: 01:00 UTC on Sunday 29 March is 03:00 CEST (02:xx never happens).
    expect(localWeekMinute(at("2026-03-29T00:59:00Z"), OSLO)).toEqual({ day: 7, minute: 1 * 60 + 59 });
    expect(localWeekMinute(at("2026-03-29T01:00:00Z"), OSLO)).toEqual({ day: 7, minute: 3 * 60 });
    // Fall back: 01:00 UTC on Sunday 25 October is 02:00 CET again.
    expect(localWeekMinute(at("2026-10-25T00:30:00Z"), OSLO)).toEqual({ day: 7, minute: 2 * 60 + 30 });
    expect(localWeekMinute(at("2026-10-25T01:30:00Z"), OSLO)).toEqual({ day: 7, minute: 2 * 60 + 30 });
    expect(localWeekMinute(NOW, OSLO)).toEqual({ day: 5, minute: 9 * 60 });
  });

  it("a Sunday 08:00–09:00 window follows the clock change: an hour later in UTC after the autumn change", () => {
    const sunday8to9 = [{ day: 7, start: 480, end: 540 }];
    // 18 October, CEST (UTC+2): 06:30 UTC is 08:30 local.
    expect(scheduleAllows(sunday8to9, OSLO, at("2026-10-18T06:30:00Z"))).toBe(true);
    expect(scheduleAllows(sunday8to9, OSLO, at("2026-10-18T07:30:00Z"))).toBe(false);
    // 25 October, CET (UTC+1): the same local window is 07:00–08:00 UTC.
    expect(scheduleAllows(sunday8to9, OSLO, at("2026-10-25T06:30:00Z"))).toBe(false);
    expect(scheduleAllows(sunday8to9, OSLO, at("2026-10-25T07:30:00Z"))).toBe(true);
  });

  it("an uncertain clock must be inside a window at both ends and every minute between", () => {
    const split: ScheduleWindow[] = [
      { day: 5, start: 8 * 60, end: 9 * 60 + 10 },
      { day: 5, start: 9 * 60 + 11, end: 10 * 60 },
    ];
    // 09:00 local ± 5 min: inside the first window throughout.
    expect(scheduleAllows(split, OSLO, NOW, 300)).toBe(true);
    // 09:10:30 local ± 60 s: both ends are allowed (09:09:30, 09:11:30), the minute 09:10 between is not.
    expect(scheduleAllows(split, OSLO, NOW + 630, 60)).toBe(false);
    expect(scheduleAllows(split, OSLO, NOW + 630, 0)).toBe(false);
    expect(scheduleAllows(split, OSLO, NOW + 690, 0)).toBe(true);
    // A clock more than 15 minutes unsure is no clock for a schedule.
    expect(scheduleAllows(FRIDAY_8_TO_10, OSLO, NOW, 901)).toBe(false);
    expect(scheduleAllows(FRIDAY_8_TO_10, OSLO, NOW, Number.NaN)).toBe(false);
  });

  it("a single window allows exactly the instants whose local minute is in it (fast-check, three zones)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(OSLO, "America/New_York", "Australia/Lord_Howe"),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 1438 }),
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: at("2026-01-01T00:00:00Z"), max: at("2028-01-01T00:00:00Z") }),
        (zone, day, start, length, now) => {
          const window = { day, start, end: Math.min(1440, start + length) };
          const local = localWeekMinute(now, zone);
          const inside = local.day === day && local.minute >= window.start && local.minute < window.end;
          expect(scheduleAllows([window], zone, now)).toBe(inside);
        },
      ),
      { seed: 20261207, numRuns: 300 },
    );
  });
});

describe("recurring key tokens", () => {
  it("carry the schedule in the protected header, listed in crit, so an older lock refuses them", () => {
    const bytes = token({ ...long, sched: FRIDAY_8_TO_10 });
    const header = decodeSign1(bytes).protectedHeader as Map<number, unknown>;
    expect(header.get(HeaderLabel.crit)).toEqual([SCHEDULE_HEADER_LABEL]);
    expect(header.get(SCHEDULE_HEADER_LABEL)).toEqual([[5, 480, 600]]);
    const verdict = verifyKeyToken(bytes, options());
    expect(verdict.ok && verdict.claims.sched).toEqual(FRIDAY_8_TO_10);
  });

  it("open inside the window, in the lock's zone; refused outside it and on another day", () => {
    const bytes = token({ ...long, sched: FRIDAY_8_TO_10 });
    expect(verifyKeyToken(bytes, options()).ok).toBe(true);
    const later = verifyKeyToken(bytes, options({ now: NOW + 3600 }));
    expect(later.ok || later.code).toBe("outside_schedule");
    const saturday = verifyKeyToken(bytes, options({ now: NOW + 86_400 }));
    expect(saturday.ok || saturday.code).toBe("outside_schedule");
    expect(verifyKeyToken(bytes, options({ now: NOW + 7 * 86_400 })).ok).toBe(true);
    // 09:00 in Oslo is 03:00 in New York: the same token read in the wrong zone would be outside.
    const elsewhere = verifyKeyToken(bytes, options({ timeZone: "America/New_York" }));
    expect(elsewhere.ok || elsewhere.code).toBe("outside_schedule");
  });

  it("are refused by a lock with no zone, or one it cannot read, instead of being judged in UTC", () => {
    const bytes = token({ ...long, sched: FRIDAY_8_TO_10 });
    for (const timeZone of [undefined, "Mars/Olympus"]) {
      const verdict = verifyKeyToken(bytes, { trust, lockId: "lock-1", now: NOW, ...(timeZone ? { timeZone } : {}) });
      expect(verdict.ok || verdict.code).toBe("no_timezone");
    }
    // A key with no schedule needs no zone.
    expect(verifyKeyToken(token(), { trust, lockId: "lock-1", now: NOW }).ok).toBe(true);
  });

  it("the other checks come first: an expired or revoked recurring key says so", () => {
    const expired = verifyKeyToken(token({ sched: FRIDAY_8_TO_10, exp: NOW - 3600, nbf: NOW - 7200 }), options());
    expect(expired.ok || expired.code).toBe("expired");
  });

  it("a schedule without crit, crit without the schedule, or a schedule that is no schedule is malformed", () => {
    const header = (edit: (h: Map<number, unknown>) => void) => {
      const h = new Map<number, unknown>([
        [HeaderLabel.alg, Alg.EdDSA],
        [HeaderLabel.kid, kid],
        [HeaderLabel.typ, KEY_TOKEN_TYP],
      ]);
      edit(h);
      return signSign1({
        protectedHeader: h as never,
        payload: encodeClaims(claims(long)),
        secretKey: issuer.secretKey,
      });
    };
    const cases = [
      header((h) => h.set(SCHEDULE_HEADER_LABEL, [[5, 480, 600]])),
      header((h) => h.set(HeaderLabel.crit, [SCHEDULE_HEADER_LABEL])),
      header((h) => h.set(HeaderLabel.crit, [SCHEDULE_HEADER_LABEL]).set(SCHEDULE_HEADER_LABEL, [[8, 480, 600]])),
      header((h) => h.set(HeaderLabel.crit, [SCHEDULE_HEADER_LABEL]).set(SCHEDULE_HEADER_LABEL, [])),
      header((h) => h.set(HeaderLabel.crit, [SCHEDULE_HEADER_LABEL]).set(SCHEDULE_HEADER_LABEL, "Fridays")),
      header((h) => h.set(HeaderLabel.crit, [SCHEDULE_HEADER_LABEL]).set(SCHEDULE_HEADER_LABEL, [[5, 600, 480]])),
    ];
    for (const bytes of cases) {
      const verdict = verifyKeyToken(bytes, options());
      expect(verdict.ok || verdict.code).toBe("malformed");
    }
  });

  it("the minting side refuses to sign a schedule a lock would refuse", () => {
    expect(() => token({ sched: [{ day: 5, start: 600, end: 480 }] })).toThrow(/end must be after start/);
  });
});
