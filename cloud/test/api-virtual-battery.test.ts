import { afterEach, describe, expect, it } from "vitest";
import { VIRTUAL_DRAIN_SECONDS_PER_PERCENT, virtualBattery } from "../src/domain/virtual-battery.js";
import { registerPhone } from "./app.js";
import { closeAll, lh, startTestCloud, tenant, virtualLocks } from "./helpers.js";

/** Issue 14: virtual locks report a simulated battery, not null, the same for the same seed and clock. */

afterEach(closeAll);

const DAY = 86_400_000;

async function siteWithVirtualLocks(seed: string) {
  const t = await startTestCloud({ seed });
  const tn = await tenant(t);
  const { lockIds } = await virtualLocks(t, tn, 3);
  const locks = (await t.call("GET", lh(tn, "/locks"), { token: tn.token })).body.locks;
  return { t, tn, lockIds, locks };
}

describe("virtual locks' simulated battery", () => {
  it("starts between 90 and 100 %, drains a percent every three days, and is low and then critical in time", () => {
    const lock = { id: "virtual-0123456789ab", createdAt: 1_800_000_000_000 };
    const fresh = virtualBattery(lock, lock.createdAt);
    expect(fresh.level).toBeGreaterThanOrEqual(90);
    expect(fresh.level).toBeLessThanOrEqual(100);
    expect(fresh).toMatchObject({ state: "ok", tsS: 1_800_000_000, updatedAt: lock.createdAt });
    expect(fresh.mv).toBe(2400 + fresh.level * 6);
    const perPercent = VIRTUAL_DRAIN_SECONDS_PER_PERCENT * 1000;
    expect(virtualBattery(lock, lock.createdAt + perPercent - 1).level).toBe(fresh.level);
    expect(virtualBattery(lock, lock.createdAt + 10 * perPercent).level).toBe(fresh.level - 10);
    expect(virtualBattery(lock, lock.createdAt + (fresh.level - 20) * perPercent).state).toBe("low");
    expect(virtualBattery(lock, lock.createdAt + (fresh.level - 5) * perPercent).state).toBe("critical");
    expect(virtualBattery(lock, lock.createdAt + 10_000 * DAY).level).toBe(1);
    // A clock that stepped back before the lock's creation does not charge it.
    expect(virtualBattery(lock, lock.createdAt - DAY).level).toBe(fresh.level);
  });

  it("every new virtual lock carries one, the same for the same seed and clock", async () => {
    const a = await siteWithVirtualLocks("battery-seed");
    for (const lock of a.locks) {
      expect(lock.battery, lock.id).toEqual({
        level: virtualBattery({ id: lock.id, createdAt: a.t.clock.now() }, a.t.clock.now()).level,
        state: "ok",
        updatedAt: new Date(a.t.clock.now()).toISOString(),
      });
    }
    const b = await siteWithVirtualLocks("battery-seed");
    expect(b.locks.map((l: { battery: unknown }) => l.battery)).toEqual(
      a.locks.map((l: { battery: unknown }) => l.battery),
    );
  });

  it("a new reading comes each time the lock is used, drained by the time since its creation", async () => {
    const { t, tn, lockIds } = await siteWithVirtualLocks("battery-use");
    const lockId = lockIds[0]!;
    const createdAt = t.clock.now();
    const start = virtualBattery({ id: lockId, createdAt }, createdAt).level;
    // Seven months on, a key holder asks the lock for a challenge: the lock "reports" its battery.
    t.clock.advance(Math.ceil((start - 20) * VIRTUAL_DRAIN_SECONDS_PER_PERCENT * 1000));
    const key = await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId: "+4791234567" } });
    expect(key.status).toBe(201);
    const phone = await registerPhone(t, "+4791234567");
    // Reading the lock alone changes nothing: the battery is what the lock last reported.
    const unused = (await t.call("GET", lh(tn, `/locks/${lockId}`), { token: tn.token })).body.battery;
    expect(unused).toMatchObject({ level: start, updatedAt: new Date(createdAt).toISOString() });
    expect((await t.call("POST", `/app/v1/virtual-locks/${lockId}/challenge`, { token: phone.token })).status).toBe(
      200,
    );
    const used = (await t.call("GET", lh(tn, `/locks/${lockId}`), { token: tn.token })).body.battery;
    expect(used).toEqual({ level: 20, state: "low", updatedAt: new Date(t.clock.now()).toISOString() });
  });
});
