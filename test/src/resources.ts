import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * What a test started and must undo: temp dirs, processes, servers, database schemas. `cleanup()` runs every undo
 * step, last first, even when some fail (the first error is thrown at the end), so a failing test leaves nothing
 * behind. Call it from afterEach/afterAll.
 */
export class Resources {
  private readonly steps: Array<{ what: string; undo: () => unknown }> = [];

  /** Registers an undo step. */
  defer(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** A fresh directory under the OS temp dir, removed at cleanup. */
  tempDir(prefix = "latchkey-e2e-"): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.defer(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  async cleanup(): Promise<void> {
    let first: unknown;
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (e) {
        first ??= new Error(`cleanup: ${step.what}: ${(e as Error).message}`);
      }
    }
    if (first) throw first;
  }
}
