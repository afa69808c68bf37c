import type { ManualClock } from "@latchkey/protocol";
import { afterEach } from "vitest";
import { type LockOptions, type SimLock, seededRandom, startLock } from "../../src/index.js";
import type { TempDirs } from "./tmp.js";

/** Boots locks for the tests of one file; after each test every lock still running is stopped, then `tmp` cleaned. */
export interface LockBoots {
  /** A lock on `dataDir`, its randomness seeded by its id and the boot's number in the file (same run, same keys). */
  boot(lockId: string, dataDir: string, extra?: Partial<LockOptions>): Promise<SimLock>;
  /** The test stops or power-cycles `lock` itself from now on. */
  release(lock: SimLock): void;
}

/** `clock` is read at each boot: a file that makes a new clock per test passes a getter. */
export function lockBootsEach(clock: () => ManualClock, tmp: TempDirs): LockBoots {
  const running: SimLock[] = [];
  let boots = 0;
  afterEach(async () => {
    for (const lock of running.splice(0)) await lock.stop();
    tmp.cleanup();
  });
  return {
    async boot(lockId, dataDir, extra = {}) {
      const random = seededRandom(`${lockId}:${++boots}`);
      const lock = await startLock({ lockId, dataDir, clock: clock(), random, tickIntervalMs: 0, ...extra });
      running.push(lock);
      return lock;
    },
    release(lock) {
      running.splice(running.indexOf(lock), 1);
    },
  };
}
