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
 * simulated locks (their events sealed as reports and kept in flash until the `ack` of a signed state covers them,
 * re-sealed and re-published after every reconnect: docs/design.md section 7). One lock has a tiny ring buffer, so
 * some of its events are dropped while it waits: those must be reported, never silent.
 */
const SEED = "sigkill-stream-1";
const EVENTS = 10_000;
const KILLS = 20;
const LOCKS = 8;
/** The last lock keeps only this many events: it overflows while it waits for its ack. */
const SMALL_RING = 12;
/**
 * The others keep every event they make here (about 1,250 each): a signed ack comes at most every 10 s per lock
 * (the bridge's state refetch), so a ring of 256 would overflow between two acks at this rate.
 */
const RING = 2048;

const resources = new Resources();
const logs = new LogSink();
const secrets = new Secrets();
const tally = new Tally("sigkill-stream");
let site: ReliabilitySite;

beforeAll(async () => {
  site = await ReliabilitySite.start(resources, logs, secrets, { seed: SEED });
  await site.startBridgeProcess();
  const ids = Array.from({ length: LOCKS }, (_, i) => `stream-lock-${i}`);
  for (const [i, id] of ids.entries()) await site.startLock(id, { ringCapacity: i === LOCKS - 1 ? SMALL_RING : RING });
  await pollUntil(
    "every lock assigned to the bridge in the cloud",
    async () => (await site.client.listLocks(site.lockHolderId)).locks.length === LOCKS,
    { timeoutMs: 60_000 },
  );
  // Claimed, each lock runs a signed state (its report key) and signed time before the stream starts.
  for (const lock of site.locks) await site.waitForTrust(lock);
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
    let waitedMs = 0;
    // The most events each lock held at once, waiting for a signed ack (each goes again at every reconnect).
    const peak = new Map<string, number>();
    for (const lock of site.locks)
      lock.on("change", () => peak.set(lock.id, Math.max(peak.get(lock.id) ?? 0, lock.unacknowledged)));
    const small = site.locks.at(-1)!;
    /**
     * Unlock attempts on seeded locks. While the bridge is up, a lock with 128 events the broker has not taken is
     * given time to deliver them (doors are not tried hundreds of times a second); while it is down they pile up. Only
     * a signed ack frees them from the ring, whatever the broker took.
     */
    const emit = async (count: number, bridgeUp: boolean) => {
      for (let i = 0; i < count; i++) {
        const lock = site.locks[seededInt(random, 0, LOCKS - 1)]!;
        if (bridgeUp && lock !== small && lock.undelivered >= 128) {
          const since = Date.now();
          await lock.waitFor((l) => l.undelivered < 64, `${lock.id} to deliver`, { timeoutMs: 60_000 });
          waitedMs += Date.now() - since;
        }
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

    // The cloud stored them all: the signed ack each lock runs covers its events.
    for (const lock of site.locks) await site.waitForAcknowledged(lock, undefined, { timeoutMs: 120_000 });
    const lockIds = site.locks.map((l) => l.id);
    const db = site.cloudDb();
    // Per lock, each event it made is in the cloud or covered by a drop it reported (a dropped event may have reached
    // the cloud before the ring let it go: its ack had not come yet).
    await pollUntil(
      "every event in the cloud or reported dropped",
      () => {
        const stored = storedEvents(db, lockIds);
        return site.locks.every((l) => auditLock(l, stored).unexplainedGaps.length === 0);
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const stored = storedEvents(db, lockIds);
    let dropped = 0;
    for (const lock of site.locks) {
      const audit = auditLock(lock, stored);
      expect(audit.phantoms, `${lock.id}: events the lock never made`).toEqual([]);
      expect(audit.unexplainedGaps, `${lock.id}: seq gaps without a reported drop`).toEqual([]);
      // A drop's count moves to the next event in the ring; when the cloud had already stored that event (it keeps the
      // first copy of an event id), the count it holds is the older one. Those drops are of events the cloud had
      // stored too (no gap above is unexplained), so it may be told fewer drops than the ring made, never more.
      expect(audit.droppedReported, `${lock.id}: drops reported`).toBeLessThanOrEqual(audit.droppedByLock);
      tally.lose(audit.lost.length);
      dropped += audit.droppedByLock;
    }
    // The small ring really overflowed, so the drop accounting was exercised, and only there.
    expect(site.locks.at(-1)!.droppedTotal).toBeGreaterThan(0);
    for (const lock of site.locks.slice(0, -1)) expect(lock.droppedTotal).toBe(0);
    expect(tally.lost).toBe(0);
    tally.note("events streamed", EVENTS);
    tally.note("events stored", stored.length);
    tally.note("ring-buffer drops (by the locks)", dropped);
    tally.note(
      "ring-buffer drops the cloud was told of",
      site.locks.reduce((sum, l) => sum + auditLock(l, stored).droppedReported, 0),
    );
    tally.note("seconds the stream waited for the broker", Math.round(waitedMs / 1000));
    tally.note("most events a lock held for its ack", Math.max(...site.locks.map((l) => peak.get(l.id) ?? 0)));

    // And the bridge that survived it all drains and stops cleanly.
    const health = (await (await fetch(`${site.metricsUrl}/healthz`)).json()) as { outbox: { items: number } };
    expect(health.outbox.items).toBe(0);
    expect(await site.stopBridgeProcess()).toBe(0);
    expect(secrets.foundIn(logs.text())).toEqual([]);
  });
});
