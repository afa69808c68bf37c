import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type RunningCloud, startCloud } from "@latchkey/cloud";
import { seededRandom, setupCodes } from "@latchkey/lock-sim";
import { ManualClock } from "@latchkey/protocol";
import { BridgeApiClient } from "@latchkey/protocol/clients";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, IntegratorClient, requestAccessToken } from "../src/client/index.js";

/** The typed client against the real cloud (in process, SQLite in a temp dir, a manual clock for token expiry). */
describe("the typed clients (IntegratorClient, protocol's BridgeApiClient) against a real cloud", () => {
  let dir: string;
  let cloud: RunningCloud;
  const clock = new ManualClock(1_900_000_000_000);
  let creds: { integratorId: string; clientId: string; clientSecret: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-client-"));
    cloud = await startCloud({
      dataDir: dir,
      port: 0,
      clock,
      masterKey: new Uint8Array(32).fill(3),
      logStream: new Writable({ write: (_c, _e, done) => done() }),
      workers: false,
    });
    creds = await cloud.bootstrap("Client test");
  });
  afterAll(async () => {
    const closing = cloud.close();
    cloud.app.server.closeAllConnections();
    await closing;
    rmSync(dir, { recursive: true, force: true });
  });

  it("logs in with client credentials and calls the API with typed answers", async () => {
    const client = await IntegratorClient.login(`${cloud.url}/`, creds);
    expect(client.apiUrl).toBe(cloud.url);
    expect(await client.getIntegrator(creds.integratorId)).toMatchObject({
      id: creds.integratorId,
      name: "Client test",
    });
    const lh = await client.createLockHolder({ name: "Storgata 1", countryIso: "NO" });
    expect(await client.getLockHolder(lh.id)).toEqual(lh);
    expect((await client.listLockHolders({ limit: 1 })).lockHolders).toHaveLength(1);
    const bridge = await client.registerBridge(lh.id, "gw");
    expect(bridge.secret.length).toBeGreaterThan(8);
    expect((await client.listBridges(lh.id)).map((b) => b.id)).toEqual([bridge.bridgeId]);
  });

  it("webhooks: event types, pause, replay (issue 14)", async () => {
    const client = await IntegratorClient.login(cloud.url, creds);
    const lh = await client.createLockHolder({ name: "Hooks", countryIso: "NO" });
    const hook = await client.createWebhook(lh.id, "https://example.com/hook", ["key.created"]);
    expect(hook).toMatchObject({ eventTypes: ["key.created"], paused: false });
    expect(await client.updateWebhook(lh.id, hook.id, { paused: true })).toMatchObject({ paused: true });
    await client.createVendorConnection(lh.id, { vendor: "virtual", locksToCreate: 1 });
    const [lock] = (await client.listLocks(lh.id)).locks;
    await client.createKey(lh.id, lock!.id, { userId: "+4791234567" });
    const [delivery] = await client.webhookDeliveries(lh.id, hook.id);
    expect(delivery).toMatchObject({ type: "key.created", status: "pending" });
    // Pending (no workers here): a replay answers it as it is; none has failed.
    expect(await client.replayDelivery(lh.id, hook.id, delivery!.id)).toMatchObject({ id: delivery!.id });
    expect(await client.replayFailedDeliveries(lh.id, hook.id, "2020-01-01T00:00:00Z")).toBe(0);
  });

  it("a refusal is an ApiError with the status, the cloud's code and description", async () => {
    const client = await IntegratorClient.login(cloud.url, creds);
    const error = await client.getLockHolder("lh_nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 404,
      code: "not_found",
      method: "GET",
      path: "/integrators/v1/lock-holders/lh_nope",
    });
    const raw = await client.request("POST", "/lock-holders", { name: "" });
    expect(raw.status).toBe(400);
    expect(raw.body).toMatchObject({ error: "invalid_request" });
    await expect(requestAccessToken(cloud.url, { ...creds, clientSecret: "wrong-secret" })).rejects.toMatchObject({
      status: 401,
      code: "invalid_client",
    });
  });

  it("logs in again when its access token has expired", async () => {
    const client = await IntegratorClient.login(cloud.url, creds);
    const before = client.accessToken;
    clock.advance(3_601_000);
    expect((await client.getIntegrator(creds.integratorId)).id).toBe(creds.integratorId);
    expect(client.accessToken).not.toBe(before);
  });

  it("rotates bridge and client secrets, and keeps working on the new client secret (review 12.7)", async () => {
    const own = await cloud.bootstrap("Rotating client");
    const client = await IntegratorClient.login(cloud.url, own);
    const lh = await client.createLockHolder({ name: "Rotation street 1", countryIso: "NO" });
    const bridge = await client.registerBridge(lh.id, "gw");
    const rotated = await client.rotateBridgeSecret(lh.id, bridge.bridgeId, { overlapSeconds: 60 });
    expect(rotated).toEqual({
      bridgeId: bridge.bridgeId,
      secret: expect.stringMatching(/^lkbs_/),
      expiresOldAt: new Date(clock.now() + 60_000).toISOString(),
    });
    const bridgeLogin = (clientSecret: string) =>
      requestAccessToken(cloud.url, { clientId: bridge.bridgeId, clientSecret, scope: "bridge" });
    await expect(bridgeLogin(bridge.secret)).resolves.toMatchObject({ scope: "bridge", expires_in: 60 });
    await client.revokePreviousBridgeSecret(lh.id, bridge.bridgeId);
    await expect(bridgeLogin(bridge.secret)).rejects.toMatchObject({ status: 401, code: "invalid_client" });
    await expect(bridgeLogin(rotated.secret)).resolves.toMatchObject({ scope: "bridge" });

    // Overlap 0 ends the client's own token; it logs in again with the secret it was just given.
    const fresh = await client.rotateClientSecret(own.integratorId, { overlapSeconds: 0 });
    expect(fresh).toMatchObject({ clientId: own.clientId, expiresOldAt: new Date(clock.now()).toISOString() });
    expect((await client.listBridges(lh.id)).map((b) => b.id)).toEqual([bridge.bridgeId]);
    await expect(requestAccessToken(cloud.url, own)).rejects.toMatchObject({ status: 401 });
    await client.revokePreviousClientSecret(own.integratorId);
    expect(await client.getLockHolder(lh.id)).toMatchObject({ id: lh.id });
  });

  it("claims a lock with its setup code, and reads and rotates the lock holder's authority (issue 13)", async () => {
    const client = await IntegratorClient.login(cloud.url, creds);
    const lh = await client.createLockHolder({ name: "Claim street 1", countryIso: "NO" });
    const [label] = setupCodes(["client-lock-1"], { dataDir: join(dir, "flash"), random: seededRandom(7) });
    const first = await client.claimLock(lh.id, label!.setupCode, "Front door");
    expect(first).toEqual({
      created: true,
      claim: {
        lockId: "client-lock-1",
        name: "Front door",
        claimed: true,
        claim: "pending",
        claimedAt: new Date(clock.now()).toISOString(),
        keysReported: false,
        stateV: null,
      },
    });
    // The same holder again (the next `npm start`): 200, the same claim.
    expect(await client.claimLock(lh.id, label!.setupCode)).toMatchObject({
      created: false,
      claim: { lockId: "client-lock-1", claimed: true },
    });
    // Another holder's claim of the same id is pending too: a code proves nothing until the lock applies a state signed
    // for the claim (docs/trust.md "Cloud"), and no bridge serves this lock for the first holder, so nothing stands in
    // the way (409 `already_claimed` only then or once the lock confirmed a claim: cloud/test/trust-claim-proof.test.ts).
    const other = await client.createLockHolder({ name: "Elsewhere 2", countryIso: "NO" });
    expect(await client.claimLock(other.id, label!.setupCode)).toMatchObject({
      created: true,
      claim: { lockId: "client-lock-1", claim: "pending" },
    });
    await expect(client.claimLock(lh.id, "LK1:NOTACODE")).rejects.toMatchObject({ status: 422 });

    const authority = await client.getAuthority(other.id);
    expect(authority).toEqual({
      publicKey: expect.stringMatching(/^[0-9a-f]{64}$/),
      created: expect.any(String),
      handOver: null,
      // The pending claim's lock has not reported this authority yet.
      locksBehind: 1,
    });
    expect(await client.getAuthority(other.id)).toEqual(authority);
    const rotated = await client.rotateAuthority(other.id);
    expect(rotated.publicKey).not.toBe(authority.publicKey);
    expect(rotated.handOver).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await client.getAuthority(other.id)).toEqual(rotated);
  });

  it("runs a remote unlock and lists it; a lock that is not the holder's is 404 (issue 13)", async () => {
    const client = await IntegratorClient.login(cloud.url, creds);
    const lh = await client.createLockHolder({ name: "Remote street 1", countryIso: "NO" });
    // A virtual lock (the cloud is the lock) runs the signed command at once, as docs/bridge-api.md says.
    await client.createVendorConnection(lh.id, { vendor: "virtual", locksToCreate: 1 });
    const [lock] = (await client.listLocks(lh.id)).locks;
    const created = await client.createAction(lh.id, lock!.id, "unlock");
    expect(created).toMatchObject({ id: expect.stringMatching(/^act_/), lockId: lock!.id, action: "unlock" });
    const done = await client.waitForAction(lh.id, lock!.id, created.id, { timeoutMs: 5_000 });
    expect(done).toMatchObject({ id: created.id, status: "succeeded", eventId: expect.any(String) });
    expect(await client.getAction(lh.id, lock!.id, created.id)).toEqual(done);
    expect((await client.listActions(lh.id, lock!.id)).actions.map((a) => a.id)).toEqual([created.id]);
    await expect(client.createAction(lh.id, "no-such-lock", "lock")).rejects.toMatchObject({ status: 404 });
  });

  it("edits a key with PATCH: new terms, the same id; an empty edit is a 400 naming the body (issue 14)", async () => {
    const client = await IntegratorClient.login(cloud.url, creds);
    const lh = await client.createLockHolder({ name: "Edit street 1", countryIso: "NO" });
    await client.createVendorConnection(lh.id, { vendor: "virtual", locksToCreate: 1 });
    const [lock] = (await client.listLocks(lh.id)).locks;
    const key = await client.createKey(lh.id, lock!.id, { userId: "+4791234567", userName: "Kari Nordmann" });
    const end = new Date(clock.now() + 3_600_000).toISOString();
    const edited = await client.editKey(lh.id, key.id, { end, metadata: { unit: "3A" } });
    expect(edited).toMatchObject({ id: key.id, userName: "Kari Nordmann", end, metadata: { unit: "3A" } });
    expect(await client.getKey(lh.id, key.id)).toEqual(edited);
    await expect(client.editKey(lh.id, key.id, {})).rejects.toMatchObject({ status: 400 });
    await expect(client.editKey(lh.id, "key_nope", { end })).rejects.toMatchObject({ status: 404 });
  });
  it("BridgeApiClient (protocol): logs in as the bridge, reports its connection's locks and state, reads its change feed", async () => {
    const integrator = await IntegratorClient.login(cloud.url, await cloud.bootstrap("Bridge client test"));
    const lh = await integrator.createLockHolder({ name: "Gateway street 1", countryIso: "NO" });
    const registered = await integrator.registerBridge(lh.id, "gw");
    const vc = await integrator.createVendorConnection(lh.id, {
      vendor: "sim",
      username: "site-a",
      password: "vendor-password",
      bridgeId: registered.bridgeId,
    });
    const bridge = await BridgeApiClient.login(cloud.url, { bridgeId: registered.bridgeId, secret: registered.secret });
    expect(await bridge.reportLocks(vc.id, { locks: [{ id: "gw-lock-1", name: "Front door" }] })).toEqual({
      locks: [{ id: "gw-lock-1", status: "created" }],
    });
    await bridge.reportState(vc.id, { state: "connected" });
    expect(await integrator.getVendorConnection(lh.id, vc.id)).toMatchObject({ state: "connected" });
    const feed = await bridge.changes({ wait: 0 });
    expect(feed.changes.map((c) => (c as { kind: string }).kind)).toContain("vendor_connection");
    // The lock is not claimed: no signed state for it (docs/trust.md "Cloud").
    await expect(bridge.lockState("gw-lock-1")).rejects.toBeInstanceOf(ApiError);
    // Another bridge's connection is not this bridge's to report on; a wrong secret logs in nowhere.
    await expect(bridge.reportState("vc_nope", { state: "connected" })).rejects.toMatchObject({ status: 404 });
    await expect(
      BridgeApiClient.login(cloud.url, { bridgeId: registered.bridgeId, secret: "not-the-secret" }),
    ).rejects.toMatchObject({ status: 401 });
  });
});
