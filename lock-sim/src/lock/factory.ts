import { FlashFile } from "../flash/flash-file.js";
import { IdentityFlash } from "../flash/identity-flash.js";
import { type RandomSource, systemRandom } from "../random.js";
import { bootIdentity, factoryReset, type LockIdentityKeys, setupCodeOf } from "./identity.js";

/**
 * The factory's tools, run on locks that are not running (docs/trust.md "Lock"; `latchkey-lock-sim setup-codes` and
 * `factory-reset`). They take the flash the way a lock does (a lock id runs at most once per flash, and the file is
 * locked against other processes), so a running lock is never reset under its feet.
 */
export interface LabelledLock {
  lockId: string;
  setupCode: string;
}

export interface FactoryOptions {
  dataDir: string;
  random?: RandomSource;
}

function withPartition<T>(dataDir: string, lockId: string, fn: (flash: IdentityFlash, path: string) => T): T {
  const file = FlashFile.openClaimed(dataDir, lockId);
  try {
    return fn(new IdentityFlash(file.db, lockId), file.path);
  } finally {
    file.release(lockId);
  }
}

/**
 * The setup code of each lock, making (manufacturing) the locks never seen on this flash: a later run on the same
 * data directory boots exactly these identities. A partition from before flash format 3 is refused (FlashFormatError).
 */
export function setupCodes(ids: readonly string[], options: FactoryOptions): LabelledLock[] {
  const random = options.random ?? systemRandom;
  // One reference held for the whole run, so the file is opened once, not once per lock (27 ms each: 1,000 locks
  // took half a minute).
  const held = FlashFile.open(options.dataDir);
  try {
    return ids.map((lockId) =>
      withPartition(options.dataDir, lockId, (flash, path) => {
        const identity = bootIdentity(flash, { firstBoot: !flash.hasPartition(), random, path });
        return { lockId, setupCode: setupCodeOf(identity) };
      }),
    );
  } finally {
    held.abandon();
  }
}

/** Factory reset of one lock that is not running: new keys, nothing trusted, the claim secret kept. */
export function factoryResetLock(lockId: string, options: FactoryOptions): LockIdentityKeys & LabelledLock {
  const random = options.random ?? systemRandom;
  return withPartition(options.dataDir, lockId, (flash) => {
    const identity = factoryReset(flash, random);
    return { ...identity, setupCode: setupCodeOf(identity) };
  });
}
