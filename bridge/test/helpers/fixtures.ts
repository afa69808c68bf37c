import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";

export const SITE_SECRET = "site-secret-for-tests-0123456789";

export function tempDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), "latchkey-bridge-test-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A pino destination that keeps the parsed log lines (tests assert on them and check no secret leaks). */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON: kept in raw only
      }
    }
    done();
  }
  has(msg: string): boolean {
    return this.lines.some((l) => l.msg === msg);
  }
}

/** A seeded [0, 1) generator (mulberry32) for backoff jitter. */
export function seededRandom(seed = 42): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
