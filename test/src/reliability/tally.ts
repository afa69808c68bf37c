import { appendFileSync } from "node:fs";

/** What the issue asks every reliability test to report, measured by the test itself. */
export interface TallyCounts {
  /** Faults injected: kills, restarts, outages, failed requests, locks held. */
  faults: number;
  /** Hostile or malformed inputs tried: tokens, payloads, requests. */
  inputs: number;
  /** Attempts refused as they should be (4xx, rejection codes, refused logins and publishes, dropped messages). */
  refused: number;
  /** Events or telemetry lost: anything but 0 fails the test that measured it. */
  lost: number;
  /**
   * Doors an attack opened (issue 13 item 8): unlocks at a victim lock that no honest key or honest remote command
   * caused. Only files that watch doors count it (`trackDoors`); anything but 0 fails the test that measured it.
   */
  doorsOpened?: number;
}

export interface TallyRecord extends TallyCounts {
  file: string;
  /** Further measured numbers worth showing (duplicates absorbed, retries, ns per byte, ...). */
  notes: Record<string, number | string>;
  /** Named cases (a review finding, an attack) this file checked, each listed in the run's report. */
  cases?: string[];
}

/**
 * The counts of one test file. Tests add to it as they go; `publish` prints the file's summary line and appends it to
 * the run's report file (given by the project's global setup through `inject`), where the global teardown sums them.
 */
export class Tally implements TallyCounts {
  faults = 0;
  inputs = 0;
  refused = 0;
  lost = 0;
  doorsOpened: number | undefined = undefined;
  readonly notes: Record<string, number | string> = {};
  readonly cases: string[] = [];

  constructor(readonly file: string) {}

  fault(n = 1): void {
    this.faults += n;
  }

  input(n = 1): void {
    this.inputs += n;
  }

  refuse(n = 1): void {
    this.refused += n;
  }

  lose(n: number): void {
    this.lost += n;
  }

  /** This file watches victim locks: its record says how many doors were opened (0 until `doorOpened`). */
  trackDoors(): void {
    this.doorsOpened ??= 0;
  }

  doorOpened(n = 1): void {
    this.doorsOpened = (this.doorsOpened ?? 0) + n;
  }

  note(name: string, value: number | string): void {
    this.notes[name] = value;
  }

  /** Names a case this file checked (e.g. "review 12.1: a revoked open-ended key stays revoked"); listed in the report. */
  case(name: string): void {
    if (!this.cases.includes(name)) this.cases.push(name);
  }

  record(): TallyRecord {
    return {
      file: this.file,
      faults: this.faults,
      inputs: this.inputs,
      refused: this.refused,
      lost: this.lost,
      ...(this.doorsOpened !== undefined ? { doorsOpened: this.doorsOpened } : {}),
      notes: { ...this.notes },
      cases: [...this.cases],
    };
  }

  /** Prints the summary line; appends the record to `reportFile` when the run has one. */
  publish(reportFile: string | undefined): void {
    const record = this.record();
    console.log(summaryLine(record));
    if (reportFile) appendFileSync(reportFile, `${JSON.stringify(record)}\n`);
  }
}

export function summaryLine(r: TallyRecord): string {
  const notes = Object.entries(r.notes)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const cases = (r.cases ?? []).map((c) => `\n  case: ${c}`).join("");
  return (
    `reliability ${r.file}: faults injected ${r.faults}, inputs tried ${r.inputs}, attempts refused ${r.refused}, ` +
    `events lost ${r.lost}${r.doorsOpened !== undefined ? `, doors opened ${r.doorsOpened}` : ""}` +
    `${notes ? ` (${notes})` : ""}${cases}`
  );
}

/** Sums records (one per test file) into the run's totals; `doorsOpened` over the files that watched doors. */
export function totals(records: readonly TallyRecord[]): Required<TallyCounts> & { files: number } {
  const sum = { faults: 0, inputs: 0, refused: 0, lost: 0, doorsOpened: 0, files: records.length };
  for (const r of records) {
    sum.faults += r.faults;
    sum.inputs += r.inputs;
    sum.refused += r.refused;
    sum.lost += r.lost;
    sum.doorsOpened += r.doorsOpened ?? 0;
  }
  return sum;
}
