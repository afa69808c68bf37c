import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { summaryLine, type TallyRecord, totals } from "../src/reliability/tally.js";

declare module "vitest" {
  interface ProvidedContext {
    /** Where each reliability test file appends its counts (JSON lines). */
    reliabilityReport: string;
  }
}

/**
 * The reliability project's global setup: a report file for the run, and at the end the totals over every test file
 * (faults injected, inputs tried, attempts refused, events lost, doors opened by attacks), printed in the test output.
 */
export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-reliability-report-"));
  const file = join(dir, "report.jsonl");
  project.provide("reliabilityReport", file);
  return () => {
    let records: TallyRecord[] = [];
    try {
      records = readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as TallyRecord)
        .sort((a, b) => a.file.localeCompare(b.file));
    } catch {
      // no file ran far enough to report
    }
    rmSync(dir, { recursive: true, force: true });
    const sum = totals(records);
    const lines = [
      "",
      "── reliability report ─────────────────────────────────────────────────────────────",
      ...records.map(summaryLine),
      `TOTAL (${sum.files} files): faults injected ${sum.faults}, inputs tried ${sum.inputs}, ` +
        `attempts refused ${sum.refused}, events lost ${sum.lost}, doors opened ${sum.doorsOpened}`,
      "",
    ];
    console.log(lines.join("\n"));
  };
}
