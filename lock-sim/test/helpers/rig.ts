import type { ManualClock } from "@latchkey/protocol";
import { afterEach } from "vitest";
import { type LockOptions, type SimLock, seededRandom, startLock } from "../../src/index.js";
import { startTestBroker, type TestBroker } from "./broker.js";
import type { TestCloud } from "./cloud.js";
import { Observer } from "./observer.js";
import { TempDirs } from "./tmp.js";

export const SITE_SECRET = "site-secret-for-tests-0123456789";

/** What a lock test starts, stopped after each test: locks, a broker with an observer, temp folders. */
export interface LockRig {
  readonly tmp: TempDirs;
  /**
   * Starts a lock on `clock` without its own timers (`tickIntervalMs: 0`) and with no automatic re-lock, in a fresh
   * folder unless `dataDir` is given; its randomness is seeded from the rig's label and a boot counter, so every run
   * of a test makes the same keys.
   */
  boot(clock: ManualClock, extra?: Partial<LockOptions>): Promise<SimLock>;
  /** Leaves a lock the test ended itself (a power loss) out of the stopping after the test. */
  forget(lock: SimLock): void;
  /** A broker with the site secret, and an observer relaying the locks' documents to and from `cloud`. */
  mqtt(cloud: TestCloud): Promise<{ broker: TestBroker; observer: Observer }>;
}

/** One rig per `describe`: `seed` names the randomness of its locks (`<seed>:<boot>`); `lockId` the default lock. */
export function lockRigEach(options: { lockId: string; seed: string }): LockRig {
  const tmp = new TempDirs();
  const running: SimLock[] = [];
  const closers: Array<{ close(): Promise<void> }> = [];
  let boots = 0;
  afterEach(async () => {
    for (const l of running.splice(0)) await l.stop();
    for (const c of closers.splice(0).reverse()) await c.close();
    tmp.cleanup();
  });
  return {
    tmp,
    async boot(clock, extra = {}) {
      const lock = await startLock({
        lockId: options.lockId,
        dataDir: tmp.make(),
        clock,
        random: seededRandom(`${options.seed}:${++boots}`),
        tickIntervalMs: 0,
        relockSeconds: 0,
        ...extra,
      });
      running.push(lock);
      return lock;
    },
    forget(lock) {
      const at = running.indexOf(lock);
      if (at >= 0) running.splice(at, 1);
    },
    async mqtt(cloud) {
      const broker = await startTestBroker({ siteSecret: SITE_SECRET });
      closers.push(broker);
      const observer = (await Observer.connect(broker.url)).relay(cloud);
      closers.push(observer);
      return { broker, observer };
    },
  };
}
