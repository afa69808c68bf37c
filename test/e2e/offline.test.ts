import { pollUntil } from "@latchkey/scripts";
import { afterEach, describe, expect, it } from "vitest";
import { brokerVariants, cloudStoreName, E2eSite, Resources } from "../src/index.js";

/**
 * The offline promise: a phone that prefetched its keys opens the door with the bridge and the cloud both stopped
 * (the lock verifies the token itself), and the events reach the cloud, each once, when they come back. Every hop
 * holds the event until the next acknowledged it: the bridge's outbox (or, on an external broker, the bridge's
 * persistent session) until the cloud's verdict, and the lock's flash until the cloud's signed ack, whatever the
 * bridge said.
 */
for (const variant of brokerVariants()) {
  describe.skipIf(variant.skip)(`offline path on the ${variant.title}, cloud on ${cloudStoreName()}`, () => {
    const resources = new Resources();
    afterEach(() => resources.cleanup());

    it("keys prefetched; bridge and cloud stopped; the phone still unlocks; the events arrive once after", async () => {
      const site = await E2eSite.start(resources, { broker: variant.mode() });
      await site.startBridge();
      const doorId = site.lockName("door-1");
      const door = await site.startLock(doorId);
      await site.waitForLocks([doorId]);
      const key = await site.client.createKey(site.lockHolderId, doorId, {
        userId: "+4791111111",
        durationMinutes: 120,
      });
      const phone = await site.phone("+4791111111");
      expect((await phone.prefetch(site.apiUrl)).map((k) => k.keyId)).toEqual([key.id]);
      // The site claimed the lock with its setup code (issue 13): claimed in the cloud, its signed state prefetched.
      expect(await site.client.getLock(site.lockHolderId, doorId)).toMatchObject({ claimed: true });
      expect(phone.states.map((st) => st.lockId)).toEqual([doorId]);
      await site.waitForTrust(door);

      expect(await site.stopBridge()).toBe(0);
      expect(await site.stopCloud()).toBe(0);
      await expect(fetch(`${site.apiUrl}/docs/json`)).rejects.toThrow();

      // Nothing runs but the lock and the phone: the door opens on the token alone.
      const first = await phone.unlock(doorId, { radio: site.radio });
      expect(first).toMatchObject({ ok: true, keyId: key.id });
      const firstEvent = door.events.findLast((e) => e.type === "unlocked")!;
      if (variant.title.startsWith("embedded")) {
        // No broker: the event waits in the lock's flash.
        expect(door.connected).toBe(false);
        expect(door.unacknowledged).toBeGreaterThanOrEqual(1);
      }

      // The bridge comes back first: the lock hands over its sealed reports (PUBACK after the bridge's outbox has them)
      // even though the cloud is still down, and a second unlock goes the same way. The lock keeps both events all
      // the same: only the cloud's signed ack frees them (docs/design.md section 7), and no cloud runs.
      await site.startBridge({ waitForFeed: false });
      await door.waitForConnected({ timeoutMs: 30_000 });
      const second = await phone.unlock(doorId, { radio: site.radio });
      expect(second).toMatchObject({ ok: true });
      const secondEvent = door.events.findLast((e) => e.type === "unlocked")!;
      await door.waitForDelivered({ timeoutMs: 30_000 });
      expect(door.signedState?.ack ?? 0).toBeLessThan(firstEvent.seq);
      expect(door.unacknowledged).toBeGreaterThanOrEqual(2);

      await site.startCloud();
      const unlocked = await pollUntil(
        "both unlocks in the cloud",
        async () => {
          const events = (await site.client.allEvents(site.lockHolderId)).filter((e) => e.action === "unlocked");
          return events.length >= 2 ? events : null;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      expect(unlocked.map((e) => e.keyId)).toEqual([key.id, key.id]);
      expect(new Set(unlocked.map((e) => e.id)).size).toBe(2);
      expect(unlocked.some((e) => e.id === Buffer.from(firstEvent.id).toString("hex"))).toBe(true);
      // Exactly once: the bridge's outbox drains and nothing is stored twice.
      await pollUntil("the bridge's outbox drained", async () => (await site.bridgeHealth()).outbox.items === 0);
      expect((await site.client.allEvents(site.lockHolderId)).filter((e) => e.action === "unlocked")).toHaveLength(2);
      // The state the bridge fetches after those reports carries the cloud's ack: now the lock frees both events.
      await site.waitForAck(door, secondEvent.seq);
    });
  });
}
