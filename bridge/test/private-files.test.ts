import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import type { startTestBridge } from "./helpers/bridge.js";
import { bridgeSiteEach } from "./helpers/site-each.js";

/** Review 12.2 (bridge side): the data directory and every database file are for the bridge's user only. */
const FILES = ["bridge.db", "bridge.db-wal", "bridge.db-shm", "broker.db", "broker.db-wal", "broker.db-shm"];
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe("data files readable by the bridge's user only (review 12.2)", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  it("creates the data directory 0700 and bridge.db, broker.db and their -wal and -shm 0600", async () => {
    const data = join(site.dir.path, "var", "data");
    ({ bridge } = await site.start({}, {}, data));
    await bridge.ready;
    expect(mode(data)).toBe("700");
    for (const f of FILES) expect(`${f} ${mode(join(data, f))}`).toBe(`${f} 600`);
  });

  it("narrows a wider directory and wider files left by an older run, and says so in the log", async () => {
    const data = join(site.dir.path, "data");
    ({ bridge } = await site.start({}, {}, data));
    await bridge.ready;
    await bridge.stop();
    bridge = null;
    chmodSync(data, 0o755);
    // A clean stop checkpoints the -wal and -shm away; whatever is left goes 0644, as an older bridge made them.
    for (const f of FILES) if (existsSync(join(data, f))) chmodSync(join(data, f), 0o644);
    let log: Awaited<ReturnType<typeof startTestBridge>>["log"];
    ({ bridge, log } = await site.start({}, {}, data));
    await bridge.ready;
    expect(mode(data)).toBe("700");
    for (const f of FILES) expect(`${f} ${mode(join(data, f))}`).toBe(`${f} 600`);
    const told = log.lines.filter((l) => l.msg === "narrowed the mode of a data file other local users could read");
    expect(told.map((l) => [l.path, l.was, l.now])).toEqual(
      expect.arrayContaining([
        [data, "755", "700"],
        ...["bridge.db", "broker.db"].map((f) => [join(data, f), "644", "600"]),
      ]),
    );
    expect(told.every((l) => l.level === 40)).toBe(true);
  });

  it("refuses a shared (sticky) data directory such as /tmp rather than narrow it", async () => {
    const shared = join(site.dir.path, "shared");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    await expect(site.start({}, {}, shared)).rejects.toMatchObject({ code: "unsafe_data_dir" });
    expect(mode(shared)).toBe("777");
  });
});
