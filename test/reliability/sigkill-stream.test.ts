import { setImmediate as yieldToLoop } from "node:timers/promises";
import { pollUntil } from "@latchkey/scripts";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { auditLock, deniedAttempt, storedEvents } from "../src/reliability/events.js";
import { LogSink, Secrets } from "../src/reliability/evidence.js";
import { seededFraction, seededInt } from "../src/reliability/random.js";
import { ReliabilitySite } from "../src/reliability/site.js";
import { Tally } from "../src/reliability/tally.js";
import { Resources } from "../src/resources.js";

/**
 * The bridge process is killed with SIGKILL 20 times at seeded random points of a 10,000-event stream from real
 * simulated locks (their events in flash until the bridge's PUBACK, re-published after every reconnect). One lock has
 * a tiny ring buffer, so some of its events are dropped while the bridge is down: those must be reported, never silent.
 */
const SEED = "sigkill-stream-1";
const EVENTS = 10_000;
const KILLS = 20;
const LOCKS = 8;
/** The last lock keeps only this many events: it overflows while the bridge is down. */
const SMALL_RING = 12;

const resources = new Resources();
const logs = new LogSink();
const secrets = new Secrets();
const tally = new Tally("sigkill-stream");
let site: ReliabilitySite;

beforeAll(async () => {
  site = await ReliabilitySite.start(resources, logs, secrets, { seed: SEED });
  await site.startBridgeProcess();
  const ids = Array.from({ length: LOCKS }, (_, i) => `stream-lock-${i}`);
  for (const [i, id] of ids.entries())
    await site.startLock(id, i === LOCKS - 1 ? { ringCapacity: SMALL_RING } : { ringCapacity: 256 });
  await pollUntil(
    "every lock assigned to the bridge in the cloud",
    async () => (await site.client.listLocks(site.lockHolderId)).locks.length === LOCKS,
    { timeoutMs: 60_000 },
  );
});

afterAll(async () => {
  tally.publish(inject("reliabilityReport"));
  await resources.cleanup();
});

describe("SIGKILL of the bridge during a 10,000-event stream", () => {
  it(`${KILLS} seeded kills: every event reaches the cloud exactly once, every seq gap is a reported drop`, async () => {
    const random = seededFraction(SEED);
    // Segment sizes around EVENTS / (KILLS + 1), seeded; the last one takes the rest.
    const segments: number[] = [];
    let left = EVENTS;
    for (let i = 0; i < KILLS; i++) {
      const size = seededInt(random, 200, 700);
      segments.push(size);
      left -= size;
    }
    segments.push(left);
    expect(left).toBeGreaterThan(0);

    let n = 0;
    const small = site.locks.at(-1)!;
    /**
     * Unlock attempts on seeded locks. While the bridge is up, a lock with half its ring buffer unacknowledged is
     * given time to deliver (doors are not tried hundreds of times a second); while it is down they pile up.
     */
    const emit = async (count: number, bridgeUp: boolean) => {
      for (let i = 0; i < count; i++) {
        const lock = site.locks[seededInt(random, 0, LOCKS - 1)]!;
        if (bridgeUp && lock !== small && lock.unacknowledged >= 128)
          await lock.waitFor((l) => l.unacknowledged < 64, `${lock.id} to deliver`, { timeoutMs: 60_000 });
        deniedAttempt(lock, n++);
        // Let MQTT, the bridge's PUBACKs and its uploads run between attempts, so kills land mid-flow.
        if (i % 8 === 7) await yieldToLoop();
      }
    };
    for (const [i, size] of segments.entries()) {
      if (i === KILLS) {
        await emit(size, true);
        break;
      }
      const killAt = seededInt(random, 0, size - 1);
      await emit(killAt, true);
      await site.killBridgeProcess();
      tally.fault();
      // The locks keep working while their bridge is dead; their events wait in flash.
      await emit(size - killAt, false);
      await site.startBridgeProcess();
    }
    expect(n).toBe(EVENTS);

    for (const lock of site.locks) await lock.waitForAcknowledged({ timeoutMs: 120_000 });
    const lockIds = site.locks.map((l) => l.id);
    const expected = site.locks.reduce((sum, l) => sum + l.events.length - l.droppedTotal, 0);
    const db = site.cloudDb();
    await pollUntil("every event in the cloud", () => storedEvents(db, lockIds).length >= expected, {
      timeoutMs: 120_000,
      intervalMs: 200,
    });
    const stored = storedEvents(db, lockIds);
    let dropped = 0;
    for (const lock of site.locks) {
      const audit = auditLock(lock, stored);
      expect(audit.phantoms, `${lock.id}: events the lock never made`).toEqual([]);
      expect(audit.unexplainedGaps, `${lock.id}: seq gaps without a reported drop`).toEqual([]);
      expect(audit.droppedReported, `${lock.id}: drops reported`).toBe(audit.droppedByLock);
      tally.lose(audit.lost.length);
      dropped += audit.droppedByLock;
    }
    // The small ring really overflowed, so the drop accounting was exercised, and only there.
    expect(site.locks.at(-1)!.droppedTotal).toBeGreaterThan(0);
    for (const lock of site.locks.slice(0, -1)) expect(lock.droppedTotal).toBe(0);
    expect(tally.lost).toBe(0);
    tally.note("events streamed", EVENTS);
    tally.note("events stored", stored.length);
    tally.note("ring-buffer drops reported", dropped);

    // And the bridge that survived it all drains and stops cleanly.
    const health = (await (await fetch(`${site.metricsUrl}/healthz`)).json()) as { outbox: { items: number } };
    expect(health.outbox.items).toBe(0);
    expect(await site.stopBridgeProcess()).toBe(0);
    expect(secrets.foundIn(logs.text())).toEqual([]);
  });
});
