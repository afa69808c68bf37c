import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Temp directories removed by `cleanup()` (call it from afterEach/afterAll, so failures clean up too). */
export class TempDirs {
  private readonly dirs: string[] = [];
  make(prefix = "lock-sim-"): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }
  cleanup(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
