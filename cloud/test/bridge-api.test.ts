import { decodeSign1, fromBase64Url, fromHex, toHex } from "@latchkey/protocol";
import { ChangesPage, FEED_CHANGES, matches } from "@latchkey/protocol/contracts";
import { beforeEach, describe, expect, it } from "vitest";
import { registerPhone } from "./app.js";
import {
  type BridgeSetup,
  bridgeWithConnection,
  lh,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  tenantSiteEach,
  until,
} from "./helpers.js";
import {
  claim,
  claimedLock,
  eventReport,
  factoryLock,
  reportedAndClaimed,
  reportFound,
  sendReports,
  type TestLock,
  telemetryReport,
} from "./lock.js";

let t: TestCloud;
let tn: Tenant;
let br: BridgeSetup;

tenantSiteEach({ bridge: true }, (s) => {
  ({ t, tn, br } = s);
});

const changes = (query = "") => t.call("GET", `/bridge/v1/changes${query}`, { token: br.token });

describe("bridge API: change feed", () => {
  it("replays the bridge's complete state from the start, and resumes from a cursor", async () => {
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567", durationMinutes: 60 },
    });
    const all = await changes();
    expect(all.status).toBe(200);
    const kinds = all.body.changes.map((c: { kind: string }) => c.kind);
    // The lock as the bridge reported it (unclaimed), then as its holder claimed it.
    expect(kinds).toEqual(["issuer", "vendor_connection", "lock", "lock", "key"]);
    const [issuer, vc, found, lock, k] = all.body.changes;
    expect(found).toMatchObject({ lockId: "sim-1", removed: false, claimed: false });
    expect(issuer).toMatchObject({ lockHolderId: tn.lockHolderId, retired: false });
    expect(issuer.kid).toMatch(/^[0-9a-f]{16}$/);
    expect(issuer.x).toMatch(/^[0-9a-f]{64}$/);
    expect(vc.vendorConnection).toMatchObject({
      id: br.vcId,
      vendor: "sim",
      username: "site-a",
      state: "connecting",
      deleted: false,
    });
    expect(vc.vendorConnection.credentialCheck.salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(vc)).not.toContain("pw-a");
    expect(lock).toEqual({
      seq: lock.seq,
      kind: "lock",
      lockId: "sim-1",
      vendorConnectionId: br.vcId,
      lockHolderId: tn.lockHolderId,
      removed: false,
      claimed: true,
    });
    expect(k).toMatchObject({
      keyId: key.body.id,
      lockId: "sim-1",
      sub: "+4791234567",
      state: "active",
      nbf: 1_800_000_000,
      exp: 1_800_003_600,
    });
    expect(k.cti).toMatch(/^[0-9a-f]{32}$/);
    expect(all.body.more).toBe(false);

    const resumed = await changes(`?cursor=${all.body.cursor}`);
    expect(resumed.body).toEqual({ cursor: all.body.cursor, changes: [], more: false });
    await t.call("PUT", lh(tn, `/keys/${key.body.id}`), { token: tn.token, body: { state: "revoked" } });
    const next = await changes(`?cursor=${all.body.cursor}`);
    expect(next.body.changes).toHaveLength(1);
    expect(next.body.changes[0]).toMatchObject({ kind: "key", cti: k.cti, state: "revoked", exp: 1_800_003_600 });
  });

  it("a claim puts the lock on its bridge's feed with claimed true at once (a claim again too); another holder's claim of that id does not", async () => {
    await reportFound(t, br, { id: "sim-1" }, { id: "sim-2" });
    const start = (await changes()).body.cursor;
    const waiting = fetch(`${t.cloud.url}/bridge/v1/changes?cursor=${start}&wait=25`, {
      headers: { authorization: `Bearer ${br.token}` },
    }).then(async (r) => (await r.json()) as { changes: { kind: string; lockId: string; claimed: boolean }[] });
    await until("the request to park in its long-poll", () => t.cloud.waitingLongPolls() === 1);
    const lock = factoryLock("sim-1");
    expect((await claim(t, tn, lock)).status).toBe(201);
    const woken = await waiting;
    expect(woken.changes).toEqual([expect.objectContaining({ kind: "lock", lockId: "sim-1", claimed: true })]);
    // The same holder claims again (a factory reset made new keys): the state changes, the bridge hears of it.
    const afterClaim = (await changes(`?cursor=${start}`)).body.cursor;
    expect((await claim(t, tn, factoryLock("sim-1", "after a factory reset"))).status).toBe(200);
    expect((await changes(`?cursor=${afterClaim}`)).body.changes).toEqual([
      expect.objectContaining({ kind: "lock", lockId: "sim-1", removed: false, claimed: true }),
    ]);
    // Another holder claims sim-2, which this bridge reported: nothing on this bridge's feed, which says nothing.
    const before = (await changes()).body.cursor;
    const other = await tenant(t, "Other");
    expect((await claim(t, other, factoryLock("sim-2"))).status).toBe(201);
    expect((await changes(`?cursor=${before}`)).body.changes).toEqual([]);
    // Replayed from the start, the last entry of each lock says whether its holder has claimed it.
    const replay = (await changes()).body.changes.filter((c: { kind: string }) => c.kind === "lock");
    expect(replay.map((c: { lockId: string; claimed: boolean }) => [c.lockId, c.claimed])).toEqual([
      ["sim-1", false],
      ["sim-2", false],
      ["sim-1", true],
      ["sim-1", true],
    ]);
  });

  it("sends only entries the contracts' feed schemas accept, so a bridge applies every one", async () => {
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567", durationMinutes: 60 },
    });
    const action = await t.call("POST", lh(tn, "/locks/sim-1/actions"), {
      token: tn.token,
      body: { action: "unlock" },
    });
    expect(action.status).toBe(202);
    const page = await changes();
    expect(matches(ChangesPage, page.body)).toBe(true);
    const kinds = new Set<string>();
    for (const entry of page.body.changes) {
      const schema = FEED_CHANGES[entry.kind as keyof typeof FEED_CHANGES];
      expect(schema, entry.kind).toBeDefined();
      expect(matches(schema, entry), JSON.stringify(entry)).toBe(true);
      kinds.add(entry.kind);
    }
    expect([...kinds].sort()).toEqual(["action", "issuer", "key", "lock", "vendor_connection"]);
  });

  it("pages with limit and more", async () => {
    const page = await changes("?limit=1");
    expect(page.body.changes).toHaveLength(1);
    expect(page.body.more).toBe(true);
    const rest = await changes(`?limit=1000&cursor=${page.body.cursor}`);
    expect(rest.body.changes[0].seq).toBeGreaterThan(page.body.changes[0].seq);
  });

  it("a bridge sees only its own connections; another bridge sees none of them", async () => {
    const other = await tenant(t, "Other");
    const otherBridge = await bridgeWithConnection(t, other, "site-z", "pw-z");
    const mine = await changes();
    const vcIds = mine.body.changes
      .filter((c: { kind: string }) => c.kind === "vendor_connection")
      .map((c: { vendorConnection: { id: string } }) => c.vendorConnection.id);
    expect(vcIds).toEqual([br.vcId]);
    expect(JSON.stringify(mine.body)).not.toContain(other.lockHolderId);
    expect(
      (
        await t.call("PUT", `/bridge/v1/vendor-connections/${otherBridge.vcId}/state`, {
          token: br.token,
          body: { state: "connected" },
        })
      ).status,
    ).toBe(404);
  });

  it("a malformed cursor → 400 invalid_cursor; bad wait/limit → 400", async () => {
    for (const q of ["?cursor=abc", "?cursor=v1.-1", "?cursor=v2.5"]) {
      const res = await changes(q);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("invalid_cursor");
    }
    expect((await changes("?wait=31")).status).toBe(400);
    expect((await changes("?limit=0")).status).toBe(400);
    expect((await changes("?limit=1001")).status).toBe(400);
  });

  it("long-poll: a new key reaches a waiting bridge at once (real HTTP)", async () => {
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    const start = await changes();
    const waiting = fetch(`${t.cloud.url}/bridge/v1/changes?cursor=${start.body.cursor}&wait=25`, {
      headers: { authorization: `Bearer ${br.token}` },
    }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { changes: { keyId?: string }[] },
      at: Date.now(),
    }));
    await until("the request to park in its long-poll", () => t.cloud.waitingLongPolls() === 1);
    const created = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567" },
    });
    const at = Date.now();
    const answer = await waiting;
    expect(answer.status).toBe(200);
    expect(answer.body.changes.map((c: { keyId?: string }) => c.keyId)).toContain(created.body.id);
    // generous bound for a noisy 2-core machine; the benchmark measures the real latency
    expect(answer.at - at).toBeLessThan(2000);
  });

  it("graceful shutdown answers a parked long-poll instead of waiting it out", async () => {
    const start = await changes();
    const waiting = fetch(`${t.cloud.url}/bridge/v1/changes?cursor=${start.body.cursor}&wait=30`, {
      headers: { authorization: `Bearer ${br.token}` },
    }).then(async (r) => ({ status: r.status, body: await r.json() }));
    await until("the request to park in its long-poll", () => t.cloud.waitingLongPolls() === 1);
    await t.cloud.close();
    const answer = await waiting;
    expect(answer).toEqual({ status: 200, body: { cursor: start.body.cursor, changes: [], more: false } });
  });

  it("a long-poll with nothing new answers empty when wait runs out", async () => {
    const start = await changes();
    const res = await changes(`?cursor=${start.body.cursor}&wait=0.05`);
    expect(res.body).toEqual({ cursor: start.body.cursor, changes: [], more: false });
  });
});

describe("bridge API: revocations outlive every minted token (review 12.1)", () => {
  // A cap above the 30 days of a token without end, so such a token can outlive revocation + 30 days.
  beforeEach(async () => {
    await t.close();
    t = await startTestCloud({ settings: { maxTokenLifetimeSeconds: 90 * 86_400 } });
    tn = await tenant(t);
    br = await bridgeWithConnection(t, tn);
  });

  it("a revoked key without end carries the latest exp minted for it, not the revocation time plus 30 days", async () => {
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    // Start 20 days ahead, no end: a prefetch mints a token until after the start.
    const start = new Date(t.clock.now() + 20 * 86_400_000).toISOString();
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567", start },
    });
    const phone = await registerPhone(t, "+4791234567");
    const prefetched = await t.call("GET", "/app/v1/keys", { token: phone.token });
    const tokenExpS = Date.parse(prefetched.body.keys[0].tokenExpires) / 1000;
    expect(tokenExpS).toBeGreaterThan(Math.floor(t.clock.now() / 1000) + 30 * 86_400);

    const cursor = (await changes()).body.cursor;
    await t.call("PUT", lh(tn, `/keys/${key.body.id}`), { token: tn.token, body: { state: "revoked" } });
    const [revoked] = (await changes(`?cursor=${cursor}`)).body.changes;
    expect(revoked).toMatchObject({ kind: "key", keyId: key.body.id, state: "revoked", exp: tokenExpS });
  });

  it("a revoked key never minted keeps the most any of its tokens could have had", async () => {
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    const start = new Date(t.clock.now() + 20 * 86_400_000).toISOString();
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567", start },
    });
    const cursor = (await changes()).body.cursor;
    await t.call("PUT", lh(tn, `/keys/${key.body.id}`), { token: tn.token, body: { state: "revoked" } });
    const [revoked] = (await changes(`?cursor=${cursor}`)).body.changes;
    expect(revoked.exp).toBe(Date.parse(start) / 1000 + 30 * 86_400);
  });
});

describe("bridge API: reports", () => {
  it("found locks: created, existing, conflict; refresh offboards missing locks and revokes their keys", async () => {
    const first = await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
      token: br.token,
      body: { locks: [{ id: "sim-1", name: "Front" }, { id: "sim-2" }] },
    });
    expect(first.body.locks).toEqual([
      { id: "sim-1", status: "created" },
      { id: "sim-2", status: "created" },
    ]);
    const lock = await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token });
    expect(lock.body).toMatchObject({ name: "Front", vendor: "sim", vendorConnectionId: br.vcId });

    const other = await tenant(t, "Other");
    const otherBridge = await bridgeWithConnection(t, other, "site-z", "pw-z");
    const conflict = await t.call("PUT", `/bridge/v1/vendor-connections/${otherBridge.vcId}/locks`, {
      token: otherBridge.token,
      body: { locks: [{ id: "sim-1" }, { id: "sim-9" }] },
    });
    expect(conflict.body.locks).toEqual([
      { id: "sim-1", status: "conflict" },
      { id: "sim-9", status: "created" },
    ]);
    expect(
      (await t.call("GET", `/integrators/v1/lock-holders/${other.lockHolderId}/locks/sim-1`, { token: other.token }))
        .status,
    ).toBe(404);

    expect((await claim(t, tn, factoryLock("sim-2"))).status).toBe(201);
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-2", userId: "+4791234567" },
    });
    // Not refreshing: a shorter list removes nothing.
    const again = await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
      token: br.token,
      body: { locks: [{ id: "sim-1" }] },
    });
    expect(again.body.locks).toEqual([{ id: "sim-1", status: "existing" }]);
    expect((await t.call("GET", lh(tn, "/locks/sim-2"), { token: tn.token })).status).toBe(200);

    await t.call("PUT", lh(tn, `/vendor-connections/${br.vcId}/refresh`), { token: tn.token });
    const before = await changes();
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
      token: br.token,
      body: { locks: [{ id: "sim-1" }] },
    });
    expect((await t.call("GET", lh(tn, "/locks/sim-2"), { token: tn.token })).status).toBe(404);
    expect((await t.call("GET", lh(tn, `/keys/${key.body.id}`), { token: tn.token })).body.state).toBe("revoked");
    const feed = await changes(`?cursor=${before.body.cursor}`);
    expect(feed.body.changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "key", keyId: key.body.id, state: "revoked" }),
        expect.objectContaining({ kind: "lock", lockId: "sim-2", removed: true }),
      ]),
    );
  });

  it("state reports need a known state; reason is kept for error", async () => {
    expect(
      (
        await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
          token: br.token,
          body: { state: "exploded" },
        })
      ).status,
    ).toBe(400);
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
      token: br.token,
      body: { state: "error", reason: "invalid vendor credentials" },
    });
    const vc = await t.call("GET", lh(tn, `/vendor-connections/${br.vcId}`), { token: tn.token });
    expect(vc.body.vendorConnection).toMatchObject({ state: "error", reason: "invalid vendor credentials" });
  });

  it("heartbeat sets online, lastSeen and version; silence for 90 s shows offline", async () => {
    const hb = await t.call("POST", "/bridge/v1/heartbeat", {
      token: br.token,
      body: { version: "0.1.0", locksOnline: 2 },
    });
    expect(hb.status).toBe(204);
    const list = await t.call("GET", lh(tn, "/bridges"), { token: tn.token });
    expect(list.body.bridges[0]).toMatchObject({
      id: br.bridgeId,
      online: true,
      version: "0.1.0",
      locksOnline: 2,
      lastSeen: "2027-01-15T08:00:00.000Z",
    });
    expect(JSON.stringify(list.body)).not.toContain(br.secret);
    t.clock.advance(91_000);
    const later = await t.call("GET", lh(tn, `/bridges/${br.bridgeId}`), { token: tn.token });
    expect(later.body.online).toBe(false);
  });
});

describe("bridge API: ingest takes presence only; events and telemetry come as the lock's sealed reports", () => {
  let lock: TestLock;

  beforeEach(async () => {
    lock = await claimedLock(t, tn, br, "sim-1");
  });

  const ingest = (body: unknown) => t.call("POST", "/bridge/v1/ingest", { token: br.token, body });
  const eventIdOf = (n: number) => n.toString(16).padStart(32, "0");
  const idBytes = (n: number) => fromHex(eventIdOf(n));

  it("refuses events and telemetry with 400 naming the field and pointing to /bridge/v1/reports; stores nothing", async () => {
    const event = { id: eventIdOf(1), lockId: "sim-1", seq: 1, ts: 1_800_000_000, type: "unlocked" };
    const reading = { id: "cc".repeat(16), lockId: "sim-1", ts: 1_800_000_000, level: 80, mv: 2900, state: "ok" };
    for (const [field, body] of [
      ["events", { events: [event], presence: [{ lockId: "sim-1", online: true, ts: 1_800_000_000 }] }],
      ["events", { events: [] }],
      ["telemetry", { telemetry: [reading] }],
      ["telemetry", { telemetry: "anything at all" }],
    ] as const) {
      const res = await ingest(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toBe("signed_reports_only");
      expect(res.body.errorDescription).toMatch(new RegExp(`^body\\.${field}: `));
      expect(res.body.errorDescription).toContain("POST /bridge/v1/reports");
    }
    expect((await t.call("GET", lh(tn, "/events"), { token: tn.token })).body.events).toHaveLength(0);
    expect((await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token })).body).toMatchObject({
      battery: null,
      online: false,
    });
  });

  it("presence: stored for a served lock; a lock it does not serve is refused naming the item, nothing stored", async () => {
    const ok = await ingest({ presence: [{ lockId: "sim-1", online: true, ts: 1_800_000_000 }] });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ presence: { stored: 1 } });
    expect((await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token })).body.online).toBe(true);
    const refused = await ingest({
      presence: [
        { lockId: "sim-1", online: false, ts: 1_800_000_001 },
        { lockId: "someone-elses", online: true, ts: 1_800_000_001 },
      ],
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: "unknown_lock" });
    expect(refused.body.errorDescription).toContain("presence.1.lockId");
    expect((await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token })).body.online).toBe(true);
    for (const bad of [
      { presence: [{ lockId: "sim-1", online: "yes", ts: 1 }] },
      { presence: Array.from({ length: 1001 }, () => ({ lockId: "sim-1", online: true, ts: 1 })) },
      { unknown: [] },
    ]) {
      expect((await ingest(bad)).status).toBe(400);
    }
  });

  it("an event is stored once by its id: the lock's re-sealing of it under a new counter is accepted, not stored again", async () => {
    await sendReports(t, br, lock, [
      eventReport(lock, 1, { id: idBytes(1) }),
      eventReport(lock, 2, { id: idBytes(2) }),
    ]);
    // The lock seals event 2 again (its ack had not covered it) and a new event 3.
    await sendReports(t, br, lock, [
      eventReport(lock, 2, { id: idBytes(2) }),
      eventReport(lock, 3, { id: idBytes(3) }),
    ]);
    const events = await t.call("GET", lh(tn, "/events"), { token: tn.token });
    expect(events.body.events.map((e: { id: string }) => e.id)).toEqual([eventIdOf(3), eventIdOf(2), eventIdOf(1)]);
  });

  it("the battery is the newest reading: an older one arriving later never replaces it", async () => {
    await sendReports(t, br, lock, [
      telemetryReport(lock, 70, 1_800_000_010),
      telemetryReport(lock, 60, 1_800_000_005),
    ]);
    expect((await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token })).body.battery).toMatchObject({
      level: 70,
      state: "ok",
    });
    await sendReports(t, br, lock, [telemetryReport(lock, 5, 1_800_000_001)]);
    expect((await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token })).body.battery.level).toBe(70);
  });

  it("links events to keys by cti, never across lock holders", async () => {
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567" },
    });
    const feed = await changes();
    const cti = feed.body.changes.find((c: { kind: string }) => c.kind === "key").cti;
    await sendReports(t, br, lock, [
      eventReport(lock, 1, { key: fromHex(cti) }),
      eventReport(lock, 2, { type: "denied", code: "expired", key: fromHex("ff".repeat(16)) }),
    ]);
    const events = await t.call("GET", lh(tn, "/events"), { token: tn.token });
    expect(events.body.events[1]).toMatchObject({
      action: "unlocked",
      keyId: key.body.id,
      userId: "+4791234567",
      lockId: "sim-1",
      lockName: "sim-1",
    });
    expect(events.body.events[0]).toMatchObject({ action: "denied", keyId: null, userId: null, code: "expired" });
  });
});

describe("issuer keys: rotation", () => {
  it("rotating adds a key that signs from now on; the old one is retired once its tokens expired", async () => {
    const before = await t.call("GET", lh(tn, "/issuer-keys"), { token: tn.token });
    expect(before.body.issuerKeys).toHaveLength(1);
    const rotated = await t.call("POST", lh(tn, "/issuer-keys/rotate"), { token: tn.token });
    expect(rotated.status).toBe(201);
    expect(rotated.body.active).toBe(true);
    const after = await t.call("GET", lh(tn, "/issuer-keys"), { token: tn.token });
    // the old key never signed a token, so it is retired at once
    expect(
      after.body.issuerKeys.map((k: { active: boolean; retired: string | null }) => [k.active, k.retired !== null]),
    ).toEqual([
      [false, true],
      [true, false],
    ]);
    const feed = await changes();
    const issuers = feed.body.changes.filter((c: { kind: string }) => c.kind === "issuer");
    expect(issuers.map((c: { retired: boolean }) => c.retired)).toEqual([false, false, true]);
    expect(JSON.stringify(after.body)).not.toMatch(/secret/i);
  });

  it("retire now: a leaked signing key is rotated out and retired at once, on the feed; the next prefetch mints under the new key (review 12.6)", async () => {
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId: "sim-1", userId: "+4791234567" } });
    const phone = await registerPhone(t, "+4791234567");
    const tokenKid = async () => {
      const keys = await t.call("GET", "/app/v1/keys", { token: phone.token });
      return toHex(decodeSign1(fromBase64Url(keys.body.keys[0].token)).protectedHeader.get(4) as Uint8Array);
    };
    const leaked = await tokenKid();
    const cursor = (await changes()).body.cursor;

    const retired = await t.call("POST", lh(tn, `/issuer-keys/${leaked}/retire`), { token: tn.token });
    expect(retired.status).toBe(200);
    expect(retired.body).toMatchObject({ kid: leaked, active: false });
    expect(retired.body.retired).toBe(new Date(t.clock.now()).toISOString());
    const list = (await t.call("GET", lh(tn, "/issuer-keys"), { token: tn.token })).body.issuerKeys;
    const current = list.find((k: { active: boolean }) => k.active);
    expect(current.kid).not.toBe(leaked);
    // Bridges hear of the new key and of the retirement (locks drop the leaked key at their next sync).
    const feed = (await changes(`?cursor=${cursor}`)).body.changes.filter((c: { kind: string }) => c.kind === "issuer");
    expect(feed.map((c: { kid: string; retired: boolean }) => [c.kid, c.retired])).toEqual([
      [current.kid, false],
      [leaked, true],
    ]);
    // The phone's next prefetch: the same key, re-minted under the current key; the leaked key is not listed.
    expect(await tokenKid()).toBe(current.kid);
    const prefetched = await t.call("GET", "/app/v1/keys", { token: phone.token });
    expect(prefetched.body.issuers.map((i: { kid: string }) => i.kid)).toEqual([current.kid]);

    // Again: answered as it is, nothing new on the feed. Unknown or another lock holder's kid: 404.
    const again = await t.call("POST", lh(tn, `/issuer-keys/${leaked}/retire`), { token: tn.token });
    expect(again.body).toEqual(retired.body);
    expect((await t.call("POST", lh(tn, "/issuer-keys/00ff/retire"), { token: tn.token })).status).toBe(404);
    const other = await tenant(t, "Other");
    const foreign = (await t.call("GET", lh(other, "/issuer-keys"), { token: other.token })).body.issuerKeys[0].kid;
    const cross = await t.call("POST", lh(tn, `/issuer-keys/${foreign}/retire`), { token: tn.token });
    expect(cross.status).toBe(404);
    expect((await t.call("POST", lh(tn, "/issuer-keys/NOT-HEX/retire"), { token: tn.token })).status).toBe(400);
  });

  it("no token lives more than the lifetime cap (default 30 days), so a rotated key is retired within it (review 12.6)", async () => {
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    const nowS = Math.floor(t.clock.now() / 1000);
    const twoYears = new Date(t.clock.now() + 730 * 86_400_000).toISOString();
    const far = new Date(t.clock.now() + 40 * 86_400_000).toISOString();
    const long = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567", end: twoYears },
    });
    await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-1", userId: "+4791234567", start: far },
    });
    const phone = await registerPhone(t, "+4791234567");
    const keys = (await t.call("GET", "/app/v1/keys", { token: phone.token })).body.keys;
    // The key starting 40 days ahead has no token that could be valid yet: it comes with a later prefetch.
    expect(keys.map((k: { keyId: string }) => k.keyId)).toEqual([long.body.id]);
    expect(keys[0].end).toBe(twoYears);
    expect(keys[0].tokenExpires).toBe(new Date((nowS + 30 * 86_400) * 1000).toISOString());

    // The key that signed it is retired once the cap has passed, not in two years.
    await t.call("POST", lh(tn, "/issuer-keys/rotate"), { token: tn.token });
    t.clock.advance((30 * 86_400 + 121) * 1000);
    const list = (await t.call("GET", lh(tn, "/issuer-keys"), { token: tn.token })).body.issuerKeys;
    expect(list.map((k: { active: boolean; retired: string | null }) => [k.active, k.retired !== null])).toEqual([
      [false, true],
      [true, false],
    ]);
  });
});
