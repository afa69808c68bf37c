/**
 * RFC 3339 date-times as clients send them (docs/design.md section 4): any offset, `T`/`t` and `Z`/`z`, and any
 * number of fraction digits (`new Date().toISOString()` sends milliseconds). Parsed here rather than by Date.parse,
 * which reads at most milliseconds and so could not tell that `…:00.0001Z` lies after `…:00Z`: an end rounded up must
 * not land on the second it was after. Seconds may be left out (`10:00Z`), as the API has always taken.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

export interface Rfc3339Time {
  /** The whole unix second the instant falls in (rounded down). */
  seconds: number;
  /** Whether the instant lies after `seconds` (a fraction of a second that is not all zeros). */
  fraction: boolean;
}

const leap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysIn = (year: number, month: number) =>
  [31, leap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;

/** The instant `text` names, or undefined when it is not an RFC 3339 date-time with an offset. */
export function parseRfc3339(text: string): Rfc3339Time | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  // 60 is a leap second (RFC 3339 section 5.7): it reads as the second after :59, as POSIX time does.
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const [oh, om] = [Number(m[10]), Number(m[11])];
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0 to 99 as 1900 to 1999.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, 0);
  return { seconds: local.getTime() / 1000 - offsetMinutes * 60, fraction: /[1-9]/.test(m[7] ?? "") };
}

/** The instant rounded down to a whole second, in milliseconds (a key's start). */
export const floorToSecondMs = (t: Rfc3339Time): number => t.seconds * 1000;

/** The instant rounded up to a whole second, in milliseconds (a key's end). */
export const ceilToSecondMs = (t: Rfc3339Time): number => (t.seconds + (t.fraction ? 1 : 0)) * 1000;
