import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `${dataDir} is in use by another latchkey-stack (pid ${pid}): stop it first, or give --data another directory`,
    );
    this.name = "DataDirInUseError";
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * One stack per data directory: two would share the cloud's and the bridge's databases and fight over the locks'
 * flash. `<data>/stack.pid` names the owner; a file left by a process that is gone is taken over. Answers the release.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, "stack.pid");
  for (;;) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const owner = Number.parseInt(readFileSync(file, "utf8"), 10);
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner))
      throw new DataDirInUseError(dataDir, owner);
    rmSync(file, { force: true });
  }
}
