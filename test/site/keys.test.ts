import { deriveLockPassword, ManualClock, sealReport, toHex } from "@latchkey/protocol";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { cloudEvents, cloudLocks, createSite, SITE_SECRET, type Site, until, VENDOR } from "./helpers.js";

describe("whole site: keys", () => {
  let site: Site | null = null;
  afterEach(async () => {
    await site?.close();
    site = null;
  });

  it("a key created in the cloud opens the lock, and its revocation stops it", async () => {
    site = await createSite({ clock: new ManualClock(1_800_000_000_000) });
    await site.startBridge();
    const lock = await site.startLock("front-door");
    await site.startLock("back-door");
    await until("the bridge reported both locks", async () => (await cloudLocks(site!)).length === 2);
    // The bridge reports the locks it found, then the connection's state (bridge/src/vendors): wait for both.
    await until("the vendor connection is connected", async () => {
      const vc = await site!.api.ok("GET", site!.lockHolder(`/vendor-connections/${site!.vcId}`));
      return (vc.vendorConnection?.state ?? vc.state) === "connected";
    });

    const key = await site.api.ok("POST", site.lockHolder("/locks/front-door/keys"), { userId: "+4790000001" });
    const phone = await site.phone("+4790000001");
    const keys = await phone.prefetch(site.cloud.url);
    expect(keys.map((k) => k.lockId)).toEqual(["front-door"]);
    // startLock claimed both locks with their setup codes (issue 13): the prefetch carries front-door's signed state.
    expect((await cloudLocks(site)).map((l) => [l.id, l.claimed]).sort()).toEqual([
      ["back-door", true],
      ["front-door", true],
    ]);
    expect(phone.states.map((st) => st.lockId)).toEqual(["front-door"]);
    // The lock learns its lock holder's issuer key from its signed state, which the bridge relays from the cloud, and
    // the time from a signed time answer; then the token verifies offline.
    await until("the lock trusts the issuer", () => lock.trustedKids.length > 0);
    const opened = await phone.unlock("front-door", { radio: site.radio });
    expect(opened).toMatchObject({ ok: true });
    // The phone holds nothing for the other door.
    expect(() => phone.keyFor("back-door")).toThrow(/no key for lock back-door/);

    const unlocked = await until("the unlock event in the cloud", async () =>
      (await cloudEvents(site!)).find((e) => e.action === "unlocked" && e.keyId === key.id),
    );
    expect(unlocked).toMatchObject({ lockId: "front-door", userId: "+4790000001" });

    await site.api.ok("PUT", site.lockHolder(`/keys/${key.id}`), { state: "revoked" });
    const cti = toHex(keys[0]!.claims.cti);
    await until("the revocation reached the lock", () => lock.revoked.includes(cti));
    const denied = await phone.unlock("front-door", { radio: site.radio });
    expect(denied).toMatchObject({ ok: false, code: "revoked" });
    await until("the denied event in the cloud", async () =>
      (await cloudEvents(site!)).some((e) => e.action === "denied" && e.code === "revoked" && e.keyId === key.id),
    );
  });

  it("refuses a lock that publishes under another lock's topic", async () => {
    site = await createSite();
    const bridge = await site.startBridge();
    await site.startLock("lock-1");
    await until("lock-1 in the cloud", async () => (await cloudLocks(site!)).length === 1);
    // lock-2 has valid credentials of its own, and tries to speak for lock-1.
    const rogue = await mqtt.connectAsync(bridge.mqttUrl, {
      clientId: "lock-2",
      username: "lock-2",
      password: deriveLockPassword(SITE_SECRET, "lock-2"),
      reconnectPeriod: 0,
    });
    const closed = new Promise<void>((resolve) => rogue.once("close", () => resolve()));
    // A report in due form naming lock-1, sealed under a key lock-2 made up: the topic ACL refuses it before anything
    // reads it (the cloud would refuse it too, as `forged`).
    const forged = sealReport({
      kind: "event",
      event: { id: new Uint8Array(16).fill(0xee), lock: "lock-1", seq: 1, ts: 1_800_000_000, type: "unlocked" },
      key: new Uint8Array(32).fill(7),
      cloudKeyId: new Uint8Array(8).fill(1),
      ctr: 1,
    });
    rogue.publish("latchkey/locks/lock-1/events", Buffer.from(forged), { qos: 1 });
    await closed;
    await rogue.endAsync(true);
    // Nothing of it reaches the cloud: the bridge is idle with an empty outbox and no such event exists.
    await until("the outbox drained", () => bridge.outbox().items === 0);
    expect((await cloudEvents(site)).some((e) => e.id === "ee".repeat(16))).toBe(false);
    const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/latchkey_bridge_mqtt_acl_denied_total\{action="publish"\} 1/);
  });

  it("a vendor connection with bad credentials goes to error (403 on new keys) and back to connected after a fix", async () => {
    site = await createSite({ vendorPassword: "not-the-vendor-password" });
    await site.startBridge();
    await site.startLock("gate");
    const vcPath = site.lockHolder(`/vendor-connections/${site.vcId}`);
    const state = async () => {
      const body = await site!.api.ok("GET", vcPath);
      return (body.vendorConnection ?? body) as { state: string; reason?: string; errorReason?: string };
    };
    const failed = await until("error state", async () => ((await state()).state === "error" ? state() : null));
    expect(JSON.stringify(failed)).toContain("invalid vendor credentials");

    // The bridge reports no locks for a connection whose credentials it cannot vouch for.
    expect(await cloudLocks(site)).toEqual([]);
    // Fix: the integrator enters the right password, then refreshes.
    await site.api.ok("PUT", `${vcPath}/update-password`, { password: VENDOR.password });
    await site.api.ok("PUT", `${vcPath}/refresh`);
    await until("connected", async () => (await state()).state === "connected");
    await until("the lock is reported", async () => (await cloudLocks(site!)).some((l) => l.id === "gate"));
    const created = await site.api.call("POST", site.lockHolder("/locks/gate/keys"), { userId: "+4790000002" });
    expect(created.status).toBe(201);

    // Break it again: the password changes to a wrong one; new keys are refused with 403.
    await site.api.ok("PUT", `${vcPath}/update-password`, { password: "wrong-again-password" });
    await until("error again", async () => (await state()).state === "error");
    const refused = await site.api.call("POST", site.lockHolder("/locks/gate/keys"), { userId: "+4790000003" });
    expect(refused.status).toBe(403);
  });
});
