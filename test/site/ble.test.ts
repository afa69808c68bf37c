import { toHex } from "@latchkey/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { cloudEvents, cloudLocks, createSite, type Site, until } from "./helpers.js";

describe("whole site: locks over BLE", () => {
  let site: Site | null = null;
  afterEach(async () => {
    await site?.close();
    site = null;
  });

  it("the bridge finds, syncs and reads locks over the virtual radio through noble", async () => {
    site = await createSite({ vendor: "ble" });
    const noble = await site.radio.noble();
    const bridge = await site.startBridge({ ble: { enabled: true, scanSeconds: 1, pollSeconds: 1 } }, { noble });
    const lock = await site.startLock("ble-lock-1");
    await until("the lock found over BLE and reported", async () =>
      (await cloudLocks(site!)).some((l) => l.id === "ble-lock-1"),
    );
    const key = await site.api.ok("POST", site.lockHolder("/locks/ble-lock-1/keys"), { userId: "+4790000009" });
    await until("the issuer key pushed over BLE", () => lock.trustedKids.length > 0);

    const phone = await site.phone("+4790000009");
    const [held] = await phone.prefetch(site.cloud.url);
    // The lock takes one BLE connection at a time; a phone retries while the bridge is connected, as a person would.
    const opened = await until("an unlock over BLE", () =>
      phone.unlock("ble-lock-1", { radio: site!.radio }).catch(() => null),
    );
    expect(opened).toMatchObject({ ok: true });
    // The bridge pulls the event over BLE (authenticated `events`) and uploads it.
    await until("the unlock event in the cloud", async () =>
      (await cloudEvents(site!)).some((e) => e.action === "unlocked" && e.keyId === key.id),
    );
    await until("the lock forgot what the bridge stored", () => lock.events.length > 0 && bridge.outbox().items === 0);

    await site.api.ok("PUT", site.lockHolder(`/keys/${key.id}`), { state: "revoked" });
    await until("the revocation pushed over BLE", () => lock.revoked.includes(toHex(held!.claims.cti)));
    const refused = await until("an unlock attempt", () =>
      phone.unlock("ble-lock-1", { radio: site!.radio }).catch(() => null),
    );
    expect(refused).toMatchObject({ ok: false, code: "revoked" });
    const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/latchkey_bridge_sync_sent_total\{transport="ble"\} [1-9]/);
  });
});
