import type { Phone, SimLock } from "@latchkey/lock-sim";
import { toHex } from "@latchkey/protocol";
import { ApiError, type Key, pollUntil, send, WebhookReceiver } from "@latchkey/scripts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { brokerVariants, cloudStoreName, E2eSite, Resources, VENDOR } from "../src/index.js";

/**
 * Every item of Unloc's changelog (../shared/seed-changelog.txt), through the public API of real processes: the
 * cloud and the bridge are their bins, the locks and the phone are lock-sim on loopback MQTT and the virtual radio.
 * One site per broker; the tests run in order and build on each other, as an integrator's first day would.
 */
for (const variant of brokerVariants()) {
  describe.skipIf(variant.skip)(`changelog walk on the ${variant.title}, cloud on ${cloudStoreName()}`, () => {
    const resources = new Resources();
    let site: E2eSite;
    let front: SimLock;
    let back: SimLock;
    let phone: Phone;
    const PHONE = "+4791234567";
    let FRONT = "";
    let BACK = "";
    const lh = () => site.lockHolderId;
    /** Keys start and end on whole seconds (tokens carry unix seconds). */
    const inSeconds = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toISOString();

    beforeAll(async () => {
      site = await E2eSite.start(resources, { broker: variant.mode() });
      FRONT = site.lockName("front-door");
      BACK = site.lockName("back-door");
    });
    afterAll(() => resources.cleanup());

    it("Request a Key is deprecated: 410 Gone, a Deprecation header and a pointer to the alternative", async () => {
      const answer = await send(fetch, site.apiUrl, "POST", "/service-providers/v1/key-requests", { msn: "1234" });
      expect(answer.status).toBe(410);
      expect(answer.headers.get("deprecation")).toBeTruthy();
      expect(answer.body).toMatchObject({ error: "deprecated" });
      expect(String((answer.body as { errorDescription: string }).errorDescription)).toContain(
        "/integrators/v1/lock-holders/{lockHolderId}/keys",
      );
      const options = await send(fetch, site.apiUrl, "GET", "/service-providers/v1/key-requests-options/1234");
      expect(options.status).toBe(410);
    });

    it("get your integrator; another integrator's id is 404", async () => {
      const me = await site.client.getIntegrator(site.creds.integratorId);
      expect(me).toMatchObject({ id: site.creds.integratorId, name: "e2e integrator" });
      await expect(site.client.getIntegrator("int_01aaaaaaaaaaaaaaaaaaaaaaaa")).rejects.toMatchObject({ status: 404 });
    });

    it("get a single vendor connection: poll it from connecting to connected while the bridge finds the locks", async () => {
      const before = await site.client.getVendorConnection(lh(), site.vendorConnectionId);
      expect(before).toMatchObject({ id: site.vendorConnectionId, vendor: "sim", state: "connecting" });
      await site.startBridge();
      front = await site.startLock(FRONT);
      back = await site.startLock(BACK);
      await site.waitForLocks([FRONT, BACK]);
      const after = await site.client.getVendorConnection(lh(), site.vendorConnectionId);
      expect(after).toMatchObject({ state: "connected", bridgeId: site.bridgeId, reason: null });
      const bridges = await site.client.listBridges(lh());
      expect(bridges.find((b) => b.id === site.bridgeId)).toMatchObject({ online: true });
    });

    it("a new vendor connection with the credentials of a live one is 409, and the existing one stays connected", async () => {
      const duplicate = await site.client.request("POST", `/lock-holders/${lh()}/vendor-connections`, {
        vendor: "sim",
        username: VENDOR.username,
        password: VENDOR.password,
        bridgeId: site.bridgeId,
      });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body).toMatchObject({ error: "conflict" });
      expect((await site.client.getVendorConnection(lh(), site.vendorConnectionId)).state).toBe("connected");
      expect(await site.client.listVendorConnections(lh())).toHaveLength(1);
    });

    it("locks: sorted lists, an address set and removed, the battery status from the lock's telemetry", async () => {
      await site.client.patchLock(lh(), FRONT, { name: "A front door" });
      await site.client.patchLock(lh(), BACK, { name: "B back door" });
      const byName = await site.client.listLocks(lh(), { sort: "name", order: "desc" });
      expect(byName.locks.map((l) => l.name)).toEqual(["B back door", "A front door"]);
      const withAddress = await site.client.patchLock(lh(), FRONT, {
        address: { street: "Storgata 1", postalCode: "0155", city: "Oslo", countryIso: "NO", floor: "3" },
      });
      expect(withAddress.address).toMatchObject({ street: "Storgata 1", floor: "3" });
      const noFloor = await site.client.patchLock(lh(), FRONT, { address: { floor: null } });
      expect(noFloor.address).toEqual({ street: "Storgata 1", postalCode: "0155", city: "Oslo", countryIso: "NO" });
      const removed = await site.client.patchLock(lh(), FRONT, { address: null });
      expect(removed.address).toBeNull();
      expect((await site.client.getLock(lh(), FRONT)).address).toBeNull();

      const ok = await pollUntil(
        "a battery reading in the cloud",
        async () => (await site.client.getLock(lh(), FRONT)).battery,
      );
      expect(ok).toMatchObject({ level: 100, state: "ok" });
      front.replaceBattery(4);
      const critical = await pollUntil("the critical battery in the cloud", async () => {
        const b = (await site.client.getLock(lh(), FRONT)).battery;
        return b?.state === "critical" ? b : null;
      });
      expect(critical.level).toBe(4);
      expect(Date.parse(critical.updatedAt)).toBeGreaterThanOrEqual(Date.parse(ok.updatedAt));
      front.replaceBattery(100);
    });

    it("phone numbers: formatted to E.164, and a key for a number that cannot be a mobile is 422", async () => {
      expect(await site.client.formatPhoneNumber("912 34 567", "NO")).toBe("+4791234567");
      expect(await site.client.formatPhoneNumber("+47 912 34 567")).toBe("+4791234567");
      await expect(site.client.formatPhoneNumber("12", "NO")).rejects.toMatchObject({ status: 422 });
      const bad = await site.client.request("POST", `/lock-holders/${lh()}/locks/${FRONT}/keys`, { userId: "12345" });
      expect(bad.status).toBe(422);
    });

    let durationKey: Key;
    let bodyKey: Key;

    it("key duration: start plus durationMinutes sets the end; custom metadata is kept; get a single key", async () => {
      durationKey = await site.client.createKey(lh(), FRONT, {
        userId: "912 34 567",
        start: inSeconds(3_600_000),
        durationMinutes: 90,
        metadata: { bookingId: "B-1042", guests: 2 },
      });
      expect(durationKey).toMatchObject({ lockId: FRONT, userId: PHONE, toUser: { id: PHONE }, state: "scheduled" });
      expect(Date.parse(durationKey.end!) - Date.parse(durationKey.start)).toBe(90 * 60_000);
      expect(durationKey.metadata).toEqual({ bookingId: "B-1042", guests: 2 });
      expect(durationKey.useKeyUrl).toContain(`id=${durationKey.id}`);
      expect(await site.client.getKey(lh(), durationKey.id)).toEqual(durationKey);
      const both = await site.client.request("POST", `/lock-holders/${lh()}/locks/${FRONT}/keys`, {
        userId: PHONE,
        end: inSeconds(7_200_000),
        durationMinutes: 10,
      });
      expect(both.status).toBe(400);
    });

    it("a second create-key endpoint takes the lock id in the body, with the same behaviour", async () => {
      bodyKey = await site.client.createKeyWithLockId(lh(), { lockId: FRONT, userId: PHONE, durationMinutes: 60 });
      expect(bodyKey).toMatchObject({ lockId: FRONT, userId: PHONE, state: "active" });
      const unknown = await site.client.request("POST", `/lock-holders/${lh()}/keys`, {
        lockId: "no-such-lock",
        userId: PHONE,
      });
      expect(unknown.status).toBe(404);
      const missing = await site.client.request("POST", `/lock-holders/${lh()}/keys`, { userId: PHONE });
      expect(missing.status).toBe(400);
    });

    let batchKeyIds: string[] = [];

    it("batch create keys: 202 with a job id, polled to succeeded; an invalid item is 400 naming it and starts no job", async () => {
      const jobId = await site.client.createKeysBatch(lh(), [
        { lockId: BACK, userId: PHONE, durationMinutes: 120 },
        { lockId: FRONT, userId: "+4790000002", metadata: { unit: "3A" } },
        { lockId: BACK, userId: "+4790000003", end: inSeconds(86_400_000) },
      ]);
      const job = await site.client.waitForJob(jobId);
      expect(job).toMatchObject({ id: jobId, status: "succeeded", total: 3, done: 3 });
      batchKeyIds = job.results.map((r) => r.keyId!);
      expect(batchKeyIds.every((id) => typeof id === "string")).toBe(true);
      const created = await Promise.all(batchKeyIds.map((id) => site.client.getKey(lh(), id)));
      expect(created.map((k) => [k.lockId, k.state])).toEqual([
        [BACK, "active"],
        [FRONT, "active"],
        [BACK, "active"],
      ]);
      const before = (await site.client.listKeys(lh())).keys.length;
      const invalid = await site.client.request("POST", `/lock-holders/${lh()}/keys/batch`, {
        keys: [
          { lockId: BACK, userId: PHONE },
          { lockId: BACK, userId: "not a number" },
        ],
      });
      expect(invalid.status).toBe(400);
      expect(JSON.stringify(invalid.body)).toContain("keys.1");
      expect((await site.client.listKeys(lh())).keys.length).toBe(before);
    });

    it("the documentation carries request examples that prefill the create-key body", async () => {
      const doc = (
        await send<{ paths: Record<string, Record<string, unknown>> }>(fetch, site.apiUrl, "GET", "/docs/json")
      ).body;
      const createKey = JSON.stringify(
        doc.paths["/integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/keys"]?.post,
      );
      expect(createKey).toContain('"examples"');
      expect(createKey).toContain("durationMinutes");
      expect((await fetch(`${site.apiUrl}/docs`)).status).toBe(200);
    });

    const receiver = new WebhookReceiver();
    let webhookId = "";

    it("prefetch keys: the phone downloads its tokens ahead of time (app switch URL prefetchkeys)", async () => {
      resources.defer("close the webhook receiver", () => receiver.close());
      phone = await site.phone(PHONE);
      const answer = await send<{ prefetchKeysUrl: string; keys: Array<{ keyId: string; useKeyUrl: string }> }>(
        fetch,
        site.apiUrl,
        "GET",
        "/app/v1/keys",
        undefined,
        { headers: { authorization: `Bearer ${phone.accessToken}` } },
      );
      expect(answer.status).toBe(200);
      expect(answer.body.prefetchKeysUrl).toMatch(/prefetch/);
      const keys = await phone.prefetch(site.apiUrl);
      // Active and scheduled keys of this number: the 90-minute one starts in an hour.
      expect(keys.map((k) => k.keyId).sort()).toEqual([durationKey.id, bodyKey.id, batchKeyIds[0]].sort());
      await site.waitForTrust(front);
      await site.waitForTrust(back);
    });

    it("lock holder events and webhooks: an offline unlock shows up in the events list and is delivered signed", async () => {
      const url = await receiver.listen();
      // Unlock attempts only, so the newest delivery below is this unlock's (docs/webhooks.md has the other types).
      const hook = await site.client.createWebhook(lh(), url, ["key_event.created"]);
      webhookId = hook.id;
      receiver.useSecret(hook.secret);
      expect(hook.secret).toMatch(/^whsec_/);
      expect((await site.client.listWebhooks(lh())).map((w) => w.id)).toEqual([hook.id]);

      const opened = await phone.unlock(FRONT, { radio: site.radio });
      expect(opened).toMatchObject({ ok: true, keyId: bodyKey.id });
      const event = await site.client.waitForEvent(
        lh(),
        "the unlock event",
        (e) => e.action === "unlocked" && e.keyId === bodyKey.id,
      );
      expect(event).toMatchObject({ lockId: FRONT, lockName: "A front door", userId: PHONE });
      const delivery = await receiver.waitFor("the webhook delivery", (d) => d.data.id === event.id);
      expect(delivery).toMatchObject({ type: "key_event.created", data: { action: "unlocked", keyId: bodyKey.id } });
      expect(receiver.rejected).toBe(0);
      const deliveries = await pollUntil("the delivery recorded as delivered", async () => {
        const list = await site.client.webhookDeliveries(lh(), webhookId);
        return list.some((d) => d.status === "delivered") ? list : null;
      });
      expect(deliveries[0]).toMatchObject({ attempts: 1 });

      // A second attempt, refused: the events page newest first, `limit` and `startAfterId` walk them.
      const backDenied = back.command({
        id: "probe",
        type: "unlock",
        token: new Uint8Array([1]),
        proof: new Uint8Array(64),
        nonce: new Uint8Array(16),
      });
      expect(backDenied).toMatchObject({ ok: false, code: "malformed" });
      await site.client.waitForEvent(lh(), "the denied event", (e) => e.action === "denied" && e.lockId === BACK);
      const first = await site.client.listEvents(lh(), { limit: 1 });
      expect(first.events).toHaveLength(1);
      expect(first.events[0]).toMatchObject({ action: "denied", code: "malformed", lockId: BACK });
      expect(first.startAfterId).toBeTruthy();
      const second = await site.client.listEvents(lh(), { limit: 1, startAfterId: first.startAfterId! });
      expect(second.events[0]?.id).toBe(event.id);

      await site.client.deleteWebhook(lh(), webhookId);
      expect(await site.client.listWebhooks(lh())).toEqual([]);
    });

    it("a key for a lock whose vendor connection is in error is 403, until the credentials are fixed", async () => {
      await site.client.updateVendorPassword(lh(), site.vendorConnectionId, "not-the-vendor-password");
      const failed = await site.client.waitForVendorConnection(lh(), site.vendorConnectionId, "error");
      expect(failed.reason).toMatch(/invalid vendor credentials/);
      const refused = await site.client.request("POST", `/lock-holders/${lh()}/locks/${FRONT}/keys`, { userId: PHONE });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: "vendor_connection_error" });
      const refusedBatch = await site.client.request("POST", `/lock-holders/${lh()}/keys`, {
        lockId: FRONT,
        userId: PHONE,
      });
      expect(refusedBatch.status).toBe(403);

      await site.client.updateVendorPassword(lh(), site.vendorConnectionId, VENDOR.password);
      await site.client.refreshVendorConnection(lh(), site.vendorConnectionId);
      await site.client.waitForVendorConnection(lh(), site.vendorConnectionId, "connected");
      const created = await site.client.createKey(lh(), FRONT, { userId: "+4790000004", durationMinutes: 30 });
      expect(created.state).toBe("active");
    });

    it("a revoked key is refused by the lock itself, and the denial reaches the cloud", async () => {
      const held = phone.keys.find((k) => k.keyId === bodyKey.id)!;
      const revoked = await site.client.revokeKey(lh(), bodyKey.id);
      expect(revoked.state).toBe("revoked");
      await pollUntil("the revocation at the lock", () => front.revoked.includes(toHex(held.claims.cti)));
      const refused = await phone.unlock(FRONT, { radio: site.radio });
      expect(refused).toMatchObject({ ok: false, code: "revoked" });
      await site.client.waitForEvent(
        lh(),
        "the denied event",
        (e) => e.action === "denied" && e.keyId === bodyKey.id && e.code === "revoked",
      );
      await expect(site.client.revokeKey(lh(), "key_01aaaaaaaaaaaaaaaaaaaaaaaa")).rejects.toBeInstanceOf(ApiError);
    });

    it("virtual test locks (no bridge): a virtual vendor connection is connected at once and its locks open", async () => {
      const vc = await site.client.createVendorConnection(lh(), { vendor: "virtual", locksToCreate: 2 });
      const connected = await site.client.waitForVendorConnection(lh(), vc.id, "connected");
      expect(connected.vendor).toBe("virtual");
      const virtual = (await site.client.listLocks(lh())).locks.filter((l) => l.vendorConnectionId === vc.id);
      expect(virtual).toHaveLength(2);
      const key = await site.client.createKey(lh(), virtual[0]!.id, { userId: PHONE, durationMinutes: 15 });
      await phone.prefetch(site.apiUrl);
      expect(await phone.unlockVirtual(site.apiUrl, virtual[0]!.id)).toMatchObject({ ok: true, keyId: key.id });
      await site.client.waitForEvent(lh(), "the virtual unlock", (e) => e.action === "unlocked" && e.keyId === key.id);
    });
  });
}
