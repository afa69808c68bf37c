import { peekReport } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { LockActivity } from "../src/locks/lock-activity.js";
import { sealedEvent } from "./helpers/fixtures.js";

describe("lock activity (the status page's record of each lock)", () => {
  it("shows each event once, by its id in hex, newest first", () => {
    const activity = new LockActivity(() => 1_800_000_000_000);
    for (const n of [1, 2, 2, 3]) activity.report("lock-a", peekReport(sealedEvent("lock-a", n), "lock-a"));
    const record = activity.get("lock-a")!;
    // sealedEvent's id: n big-endian in the first four of 16 bytes.
    expect(record.events.map((e) => [e.id, e.seq])).toEqual([
      [`00000003${"0".repeat(24)}`, 3],
      [`00000002${"0".repeat(24)}`, 2],
      [`00000001${"0".repeat(24)}`, 1],
    ]);
    expect(record.lastSeenAt).toBe(1_800_000_000_000);
  });
});
