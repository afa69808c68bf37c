import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchRow, type BenchSuite, failedRow } from "./rows.js";

const CHILD = fileURLToPath(new URL("./suite-child.js", import.meta.url));

export interface SuiteOutcome {
  suite: BenchSuite;
  rows: BenchRow[];
  seconds: number;
  error: string | null;
}

/** Process groups of the suites running now, so a stopped bench takes its clouds and bridges with it. */
const running = new Map<number, string>();

/** Kills every running suite with everything it started, and removes what they wrote (the bench was interrupted). */
export function killRunningSuites(): void {
  for (const [pid, dir] of running) {
    killGroup(pid);
    rmSync(dir, { recursive: true, force: true });
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * Runs one suite in a fresh Node process (suite-child.js) and reads its rows back. A suite that fails, exits early or
 * overruns `timeoutMs` yields its declared rows as failed, with the reason, so one broken suite never hides the others.
 * The suite runs in a process group of its own with a temporary directory of its own (TMPDIR): when it has to be
 * killed, its cloud and bridge processes die with it and what they wrote is removed.
 */
export async function runSuite(
  suite: BenchSuite,
  options: { smoke: boolean; timeoutMs: number; full?: boolean; profileDir?: string; stderr?: NodeJS.WritableStream },
): Promise<SuiteOutcome> {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-bench-${suite.id}-`));
  const rowsFile = join(dir, "rows.json");
  const suiteTmp = join(dir, "tmp");
  mkdirSync(suiteTmp);
  const started = performance.now();
  try {
    const child = spawn(
      process.execPath,
      [
        CHILD,
        suite.id,
        "--rows",
        rowsFile,
        ...(options.smoke ? ["--smoke"] : []),
        ...(options.full ? ["--full"] : []),
        ...(options.profileDir ? ["--profile", options.profileDir] : []),
      ],
      { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, TMPDIR: suiteTmp } },
    );
    if (child.pid !== undefined) running.set(child.pid, dir);
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      stream.on("data", (chunk: Buffer) => {
        options.stderr?.write(chunk);
        tail.push(chunk.toString());
        if (tail.length > 40) tail.shift();
      });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid);
    }, options.timeoutMs);
    const code = await new Promise<number | null>((resolve) => {
      child.once("exit", (c) => resolve(c));
      child.once("error", () => resolve(-1));
    });
    clearTimeout(timer);
    if (child.pid !== undefined) {
      running.delete(child.pid);
      // Whatever the suite left running (it exited without its cleanup) goes too.
      killGroup(child.pid);
    }
    const seconds = (performance.now() - started) / 1000;
    const error = timedOut
      ? `timed out after ${options.timeoutMs / 1000} s`
      : code !== 0
        ? `exited with ${code}: ${lastError(tail.join(""))}`
        : null;
    if (error !== null) return { suite, rows: suite.rows.map((r) => failedRow(r, error)), seconds, error };
    return { suite, rows: JSON.parse(readFileSync(rowsFile, "utf8")) as BenchRow[], seconds, error: null };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The most telling line of a failed suite's output: its last error message. */
function lastError(output: string): string {
  const lines = output.split("\n").filter((l) => l.trim() !== "");
  const error = [...lines].reverse().find((l) => /error/i.test(l) && !l.trimStart().startsWith("at "));
  return (error ?? lines.at(-1) ?? "no output").trim().slice(0, 400);
}
