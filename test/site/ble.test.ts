import { toHex } from "@latchkey/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { bleSuite } from "./ble-suite.js";
import { acknowledged, cloudEvents, cloudLocks, createSite, type Site, until } from "./helpers.js";

bleSuite("virtual");

/**
 * The gateway's own loop, on the virtual radio only: rounds it times itself every second, and a phone that takes its
 * turn between them (the lock takes one connection at a time). The suite above runs each round itself; on the
 * emulated controllers bleno drives this process's one lock adapter, which that suite holds.
 */
describe("virtual radio only: the gateway's own loop finds a lock, a phone unlocks between its rounds", () => {
  let site: Site | null = null;
  afterEach(async () => {
    await site?.close();
    site = null;
  });

  it("the bridge finds locks over the virtual radio through noble, carries their signed state and time, reads their reports", async () => {
    site = await createSite({ vendor: "ble" });
    const noble = await site.radio.noble();
    const bridge = await site.startBridge({ ble: { enabled: true, scanSeconds: 1, pollSeconds: 1 } }, { noble });
    const lock = await site.startLock("ble-lock-1");
    await until("the lock found over BLE and reported", async () =>
      (await cloudLocks(site!)).some((l) => l.id === "ble-lock-1"),
    );
    const key = await site.api.ok("POST", site.lockHolder("/locks/ble-lock-1/keys"), { userId: "+4790000009" });
    // No secret on the bridge: it carries the lock holder's signed state and a signed time answer at its visits.
    await until("the signed state and time carried over BLE", () => lock.trustedKids.length > 0 && lock.clockSet);

    const phone = await site.phone("+4790000009");
    const [held] = await phone.prefetch(site.cloud.url);
    // The lock takes one BLE connection at a time; a phone retries while the bridge is connected, as a person would.
    const opened = await until("an unlock over BLE", () =>
      phone.unlock("ble-lock-1", { radio: site!.radio }).catch(() => null),
    );
    expect(opened).toMatchObject({ ok: true });
    // The bridge pulls the lock's sealed reports over BLE (`reports {after}`) and uploads them.
    await until("the unlock event in the cloud", async () =>
      (await cloudEvents(site!)).some((e) => e.action === "unlocked" && e.keyId === key.id),
    );
    // The lock frees the event only when a signed state acknowledging it reaches it, at a later visit.
    const unlocked = lock.events.find((e) => e.type === "unlocked")!;
    await acknowledged(lock, unlocked.seq);
    expect(bridge.outbox().items).toBe(0);

    await site.api.ok("PUT", site.lockHolder(`/keys/${key.id}`), { state: "revoked" });
    await until("the revocation pushed over BLE", () => lock.revoked.includes(toHex(held!.claims.cti)));
    const refused = await until("an unlock attempt", () =>
      phone.unlock("ble-lock-1", { radio: site!.radio }).catch(() => null),
    );
    expect(refused).toMatchObject({ ok: false, code: "revoked" });
    const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    // Every state and time answer went over BLE: this site's locks have no MQTT link.
    expect(metrics).toMatch(/latchkey_bridge_lock_states_relayed_total [1-9]/);
    expect(metrics).toMatch(/latchkey_bridge_time_answers_relayed_total [1-9]/);
  });
});
