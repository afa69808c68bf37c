import type { SimLock } from "@latchkey/lock-sim";
import { pollUntil } from "@latchkey/scripts";
import { expect } from "vitest";
import { auditLock, storedEvents } from "./events.js";
import type { ReliabilitySite } from "./site.js";
import type { Tally } from "./tally.js";

/**
 * Waits until the cloud holds as many events as the locks made, then checks each lock's: none the lock never made,
 * no seq gap the lock did not report as a drop, each stored once. What is missing is counted as lost in `tally`.
 */
export async function expectEveryEventOnce(
  site: ReliabilitySite,
  locks: readonly SimLock[],
  tally: Tally,
  timeoutMs = 60_000,
): Promise<void> {
  const db = site.cloudDb();
  const ids = locks.map((l) => l.id);
  const made = () => locks.reduce((n, l) => n + l.events.length, 0);
  await pollUntil("every event in the cloud", () => storedEvents(db, ids).length >= made(), {
    timeoutMs,
    intervalMs: 100,
  });
  const stored = storedEvents(db, ids);
  for (const lock of locks) {
    const audit = auditLock(lock, stored);
    expect(audit.phantoms).toEqual([]);
    expect(audit.unexplainedGaps).toEqual([]);
    expect(audit.stored).toBe(audit.emitted);
    tally.lose(audit.lost.length);
  }
  expect(stored.length).toBe(made());
}
