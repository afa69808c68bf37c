import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  encodeTimeRequest,
  fromBase64Url,
  ManualClock,
  NonceBook,
  StateRevocations,
  trustedIssuers,
  verifyKeyToken,
  verifyLockState,
  verifyTimeAnswer,
} from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { DATABASE_FILE } from "../src/store/sqlite/sqlite-store.js";
import { registerPhone } from "./app.js";
import {
  type BridgeSetup,
  bridgeWithConnection,
  closeAll,
  lh,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  tenantSiteEach,
} from "./helpers.js";
import { authorityOf, factoryLock, fetchState, reportedAndClaimed, type TestLock } from "./lock.js";
import { SUITE_ON_POSTGRES } from "./postgres.js";
import { keyRecord } from "./store-fixtures.js";

let t: TestCloud;
let tn: Tenant;
let br: BridgeSetup;
let lockA: TestLock;

tenantSiteEach({ bridge: true }, async (s) => {
  ({ t, tn, br } = s);
  lockA = factoryLock("lk-state-a");
  await reportedAndClaimed(t, tn, br, lockA);
});

const HOUR_MS = 3_600_000;

describe("signed lock state (docs/trust.md, Cloud)", () => {
  it("verifies at the unpinned lock with its claim secret, then pinned; names the lock's trust", async () => {
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockA.lockId, userId: "+4791234567", durationMinutes: 60 },
    });
    await t.call("PATCH", lh(tn, `/locks/${lockA.lockId}`), {
      token: tn.token,
      body: { timezone: "Europe/Oslo", maxStale: 86_400 },
    });
    const first = await fetchState(t, br, lockA.lockId);
    expect(first.v).toBe(t.clock.now());
    const unpinned = verifyLockState(first.bytes, { lockId: lockA.lockId, claimSecret: lockA.claimSecret });
    if (!unpinned.ok) throw new Error(unpinned.message);
    expect(unpinned.pin).toBe("first");
    expect(unpinned.authority).toEqual(await authorityOf(t, tn));
    const issuers = (await t.call("GET", lh(tn, "/issuer-keys"), { token: tn.token })).body.issuerKeys;
    expect(unpinned.state).toMatchObject({
      lock: lockA.lockId,
      v: first.v,
      iat: Math.floor(t.clock.now() / 1000),
      revoked: [],
      ack: 0,
      maxStale: 86_400,
      tz: "Europe/Oslo",
    });
    expect(unpinned.state.issuers.map((i) => Buffer.from(i.kid).toString("hex"))).toEqual(
      issuers.map((k: { kid: string }) => k.kid),
    );
    expect(unpinned.state.reportKey.x).toHaveLength(32);
    const pinned = verifyLockState(first.bytes, { lockId: lockA.lockId, authority: unpinned.authority });
    expect(pinned.ok && pinned.pin).toBe("kept");
    // Without the claim secret, an unpinned lock pins nothing.
    const noSecret = verifyLockState(first.bytes, { lockId: lockA.lockId, claimSecret: new Uint8Array(16) });
    expect(noSecret.ok || noSecret.code).toBe("bad_pin");

    await t.call("PUT", lh(tn, `/keys/${key.body.id}`), { token: tn.token, body: { state: "revoked" } });
    const revoked = await fetchState(t, br, lockA.lockId);
    expect(revoked.v).toBeGreaterThan(first.v);
    const after = verifyLockState(revoked.bytes, {
      lockId: lockA.lockId,
      authority: unpinned.authority,
      currentV: first.v,
    });
    if (!after.ok) throw new Error(after.message);
    expect(after.state.revoked.map((r) => Buffer.from(r.cti).toString("hex"))).toHaveLength(1);
    // The replaced document is now stale at a lock that applied the newer one.
    const replay = verifyLockState(first.bytes, {
      lockId: lockA.lockId,
      authority: unpinned.authority,
      currentV: revoked.v,
    });
    expect(replay.ok || replay.code).toBe("stale_version");
  });

  it("drops a revocation once every token of the key has expired (plus leeway); keeps one never minted", async () => {
    const create = (userId: string) =>
      t.call("POST", lh(tn, "/keys"), {
        token: tn.token,
        body: { lockId: lockA.lockId, userId, durationMinutes: 60 },
      });
    const minted = await create("+4791234567");
    const unminted = await create("+4791234568");
    const phone = await registerPhone(t, "+4791234567");
    expect((await t.call("GET", "/app/v1/keys", { token: phone.token })).body.keys).toHaveLength(1);
    for (const key of [minted, unminted]) {
      await t.call("PUT", lh(tn, `/keys/${key.body.id}`), { token: tn.token, body: { state: "revoked" } });
    }
    const revokedCount = async () => {
      const state = await fetchState(t, br, lockA.lockId);
      const verdict = verifyLockState(state.bytes, { lockId: lockA.lockId, claimSecret: lockA.claimSecret });
      if (!verdict.ok) throw new Error(verdict.message);
      return verdict.state.revoked.length;
    };
    expect(await revokedCount()).toBe(2);
    t.clock.advance(HOUR_MS + 119_000);
    expect(await revokedCount()).toBe(2);
    t.clock.advance(2000);
    expect(await revokedCount()).toBe(1);
  });

  it("answers the cached document until it is an hour old; a re-sign gives a fresh, higher v", async () => {
    const first = await fetchState(t, br, lockA.lockId);
    t.clock.advance(HOUR_MS - 1000);
    expect((await fetchState(t, br, lockA.lockId)).v).toBe(first.v);
    t.clock.advance(1000);
    const resigned = await fetchState(t, br, lockA.lockId);
    expect(resigned.v).toBe(t.clock.now());
    expect(resigned.iat).toBe(Math.floor(t.clock.now() / 1000));
  });

  it("v strictly increases when the cloud's clock goes back", async () => {
    const first = await fetchState(t, br, lockA.lockId);
    t.clock.set(t.clock.now() - 10 * HOUR_MS);
    await t.call("PATCH", lh(tn, `/locks/${lockA.lockId}`), { token: tn.token, body: { timezone: "Europe/Oslo" } });
    const second = await fetchState(t, br, lockA.lockId);
    expect(second.v).toBe(first.v + 1);
    await t.call("PATCH", lh(tn, `/locks/${lockA.lockId}`), { token: tn.token, body: { timezone: "UTC" } });
    expect((await fetchState(t, br, lockA.lockId)).v).toBe(first.v + 2);
  });

  it("a state of lock A never verifies at lock B, even one the same holder claimed", async () => {
    const lockB = factoryLock("lk-state-b");
    await reportedAndClaimed(t, tn, br, lockB);
    const a = await fetchState(t, br, lockA.lockId);
    const authority = await authorityOf(t, tn);
    const unpinned = verifyLockState(a.bytes, { lockId: lockB.lockId, claimSecret: lockB.claimSecret });
    expect(unpinned.ok || unpinned.code).toBe("bad_pin");
    const pinned = verifyLockState(a.bytes, { lockId: lockB.lockId, authority });
    expect(pinned.ok || pinned.code).toBe("wrong_lock");
  });

  it("another holder's bridge or phone gets neither the document nor a time answer", async () => {
    const other = await tenant(t, "Other");
    const otherBridge = await bridgeWithConnection(t, other, "site-b", "pw-b");
    // The other tenant's bridge even reports the same lock id: it still gets nothing signed for it.
    await t.call("PUT", `/bridge/v1/vendor-connections/${otherBridge.vcId}/locks`, {
      token: otherBridge.token,
      body: { locks: [{ id: lockA.lockId }, { id: "lk-theirs" }] },
    });
    const request = encodeTimeRequest({ lock: lockA.lockId, nonce: new Uint8Array(16).fill(1) });
    const tries = [
      await t.call("GET", `/bridge/v1/locks/${lockA.lockId}/state`, { token: otherBridge.token }),
      await t.call("POST", `/bridge/v1/locks/${lockA.lockId}/time`, {
        token: otherBridge.token,
        body: { request: Buffer.from(request).toString("base64url") },
      }),
      await t.call("GET", "/bridge/v1/locks/lk-theirs/state", { token: otherBridge.token }),
      await t.call("GET", "/bridge/v1/locks/lk-nothing/state", { token: br.token }),
    ];
    for (const a of tries) {
      expect(a.status).toBe(404);
      expect(a.body.error).toBe("not_found");
    }
    expect(tries[0]!.body.errorDescription).toBe(tries[3]!.body.errorDescription.replace("lk-nothing", lockA.lockId));

    await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockA.lockId, userId: "+4791234567", durationMinutes: 60 },
    });
    const owner = await registerPhone(t, "+4791234567");
    const stranger = await registerPhone(t, "+4799999999");
    const mine = await t.call("GET", "/app/v1/keys", { token: owner.token });
    expect(mine.body.states.map((s: { lockId: string }) => s.lockId)).toEqual([lockA.lockId]);
    const theirs = await t.call("GET", "/app/v1/keys", { token: stranger.token });
    expect(theirs.body.states).toEqual([]);
  });

  it("prefetch hands a phone no state claimed by a holder other than the one whose key it holds for that lock, nor a token for it", async () => {
    // Holder B claims lock L, which holder A's bridge reported first; the phone holds A's key for L and B's key for
    // another lock: B's document for L is not the phone's to carry.
    const other = await tenant(t, "Other");
    const otherBridge = await bridgeWithConnection(t, other, "site-b", "pw-b");
    const shared = factoryLock("lk-state-shared");
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
      token: br.token,
      body: { locks: [{ id: lockA.lockId }, { id: shared.lockId }] },
    });
    const claimedByOther = await t.call("POST", `/integrators/v1/lock-holders/${other.lockHolderId}/locks/claims`, {
      token: other.token,
      body: { setupCode: shared.setupCode },
    });
    expect(claimedByOther.status).toBe(201);
    const theirLock = factoryLock("lk-state-theirs");
    await reportedAndClaimed(t, other, otherBridge, theirLock);
    const keyOf = (who: Tenant, lockId: string) =>
      t.call("POST", `/integrators/v1/lock-holders/${who.lockHolderId}/keys`, {
        token: who.token,
        body: { lockId, userId: "+4791234567", durationMinutes: 60 },
      });
    expect((await keyOf(other, theirLock.lockId)).status).toBe(201);
    // A cannot key a lock it has not claimed (409); a key from before claims were enforced is put in the store.
    expect((await keyOf(tn, shared.lockId)).status).toBe(409);
    const now = t.clock.now();
    await t.cloud.store.transaction((tx) =>
      tx.keys.insert(
        keyRecord({
          id: "key_from_before_claims",
          lockHolderId: tn.lockHolderId,
          lockId: shared.lockId,
          cti: "ab".repeat(16),
          startAt: now,
          endAt: now + 3_600_000,
          createdAt: now,
        }),
      ),
    );
    const phone = await registerPhone(t, "+4791234567");
    const answer = await t.call("GET", "/app/v1/keys", { token: phone.token });
    // Neither a token for the lock A has not claimed (its key is from before claims were enforced) nor B's state of it.
    expect(answer.body.keys.map((k: { lockId: string }) => k.lockId)).toEqual([theirLock.lockId]);
    expect(answer.body.states.map((s: { lockId: string }) => s.lockId)).toEqual([theirLock.lockId]);
  });

  it("prefetch returns the latest state of each lock the phone's keys open, naming the token's issuer", async () => {
    await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockA.lockId, userId: "+4791234567", durationMinutes: 60 },
    });
    const phone = await registerPhone(t, "+4791234567");
    const answer = await t.call("GET", "/app/v1/keys", { token: phone.token });
    expect(answer.status).toBe(200);
    const [entry] = answer.body.states;
    const verdict = verifyLockState(fromBase64Url(entry.state), {
      lockId: lockA.lockId,
      claimSecret: lockA.claimSecret,
    });
    if (!verdict.ok) throw new Error(verdict.message);
    expect(verdict.state.v).toBe(entry.v);
    const stateKids = verdict.state.issuers.map((i) => Buffer.from(i.kid).toString("hex"));
    for (const issuer of answer.body.issuers) expect(stateKids).toContain(issuer.kid);
    expect((await fetchState(t, br, lockA.lockId)).v).toBe(entry.v);
  });

  it("answers a lock's time request with the cloud's time, signed for that nonce only", async () => {
    const authority = await authorityOf(t, tn);
    const lockClock = new ManualClock(5_000);
    const book = new NonceBook();
    const nonce = book.issue(new Uint8Array(16).fill(9), lockClock.now());
    const request = Buffer.from(encodeTimeRequest({ lock: lockA.lockId, nonce })).toString("base64url");
    const answer = await t.call("POST", `/bridge/v1/locks/${lockA.lockId}/time`, {
      token: br.token,
      body: { request },
    });
    expect(answer.status).toBe(200);
    lockClock.advance(400);
    const verdict = verifyTimeAnswer(fromBase64Url(answer.body.answer), {
      lockId: lockA.lockId,
      authority,
      nonces: book,
      nowMs: lockClock.now(),
    });
    expect(verdict).toEqual({ ok: true, time: t.clock.now(), rttMs: 400 });
    const elsewhere = Buffer.from(encodeTimeRequest({ lock: "lk-state-b", nonce })).toString("base64url");
    const wrong = await t.call("POST", `/bridge/v1/locks/${lockA.lockId}/time`, {
      token: br.token,
      body: { request: elsewhere },
    });
    expect([wrong.status, wrong.body.error]).toEqual([422, "wrong_lock"]);
    const junk = await t.call("POST", `/bridge/v1/locks/${lockA.lockId}/time`, {
      token: br.token,
      body: { request: "AAAA" },
    });
    expect([junk.status, junk.body.error]).toEqual([422, "invalid_message"]);
  });

  it("sets minIat when the revocations would not fit, drops the ones it covers; re-minted tokens open, older ones not", async () => {
    await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockA.lockId, userId: "+4791234567", durationMinutes: 600 },
    });
    const phone = await registerPhone(t, "+4791234567");
    const before = fromBase64Url((await t.call("GET", "/app/v1/keys", { token: phone.token })).body.keys[0].token);
    const keyIds: string[] = [];
    for (let i = 0; i < 190; i++) {
      const key = await t.call("POST", lh(tn, "/keys"), {
        token: tn.token,
        body: { lockId: lockA.lockId, userId: `+47912${String(i).padStart(5, "0")}`, durationMinutes: 60 },
      });
      expect(key.status, JSON.stringify(key.body)).toBe(201);
      keyIds.push(key.body.id);
    }
    for (const id of keyIds) {
      await t.call("PUT", lh(tn, `/keys/${id}`), { token: tn.token, body: { state: "revoked" } });
    }
    t.clock.advance(1000);
    const state = await fetchState(t, br, lockA.lockId);
    expect(state.bytes.length).toBeLessThanOrEqual(3584);
    const verdict = verifyLockState(state.bytes, { lockId: lockA.lockId, claimSecret: lockA.claimSecret });
    if (!verdict.ok) throw new Error(verdict.message);
    expect(verdict.state.minIat).toBe(Math.floor(t.clock.now() / 1000));
    expect(verdict.state.revoked).toEqual([]);
    // At the lock: the live key's token minted before minIat is refused; the next prefetch re-mints it, and it opens.
    const atLock = (token: Uint8Array, applied: typeof verdict.state) => {
      const time = { now: Math.floor(t.clock.now() / 1000), uncertainty: 1 };
      return verifyKeyToken(token, {
        trust: trustedIssuers(applied, time),
        lockId: lockA.lockId,
        ...time,
        revoked: new StateRevocations(applied),
      });
    };
    const refused = atLock(before, verdict.state);
    expect(refused.ok || refused.code).toBe("revoked");
    const prefetch = await t.call("GET", "/app/v1/keys", { token: phone.token });
    const [entry] = prefetch.body.states;
    const latest = verifyLockState(fromBase64Url(entry.state), {
      lockId: lockA.lockId,
      claimSecret: lockA.claimSecret,
    });
    if (!latest.ok) throw new Error(latest.message);
    expect(latest.state.minIat).toBe(verdict.state.minIat);
    const reminted = atLock(fromBase64Url(prefetch.body.keys[0].token), latest.state);
    expect(reminted.ok).toBe(true);
  });
});

describe.skipIf(SUITE_ON_POSTGRES)("a restored database (SQLite)", () => {
  it("signs above every v handed out once its clock is past the last signature; the bound is the clock", async () => {
    await closeAll();
    const dir = mkdtempSync(join(tmpdir(), "latchkey-restore-"));
    const backup = mkdtempSync(join(tmpdir(), "latchkey-restore-copy-"));
    try {
      const clock = new ManualClock(1_800_000_000_000);
      let cloud = await startTestCloud({ dataDir: dir, clock });
      const owner = await tenant(cloud);
      const bridge = await bridgeWithConnection(cloud, owner);
      const lock = factoryLock("lk-restore");
      await reportedAndClaimed(cloud, owner, bridge, lock);
      const before = await fetchState(cloud, bridge, lock.lockId);
      await cloud.close();
      copyFileSync(join(dir, DATABASE_FILE), join(backup, DATABASE_FILE));

      cloud = await startTestCloud({ dataDir: dir, clock });
      clock.advance(2 * HOUR_MS);
      const handedOut = await fetchState(cloud, bridge, lock.lockId);
      expect(handedOut.v).toBeGreaterThan(before.v);
      await cloud.close();

      // Restored from the copy, at a later time than the last signature: newer than everything handed out.
      copyFileSync(join(backup, DATABASE_FILE), join(dir, DATABASE_FILE));
      clock.advance(HOUR_MS);
      cloud = await startTestCloud({ dataDir: dir, clock });
      const restored = await fetchState(cloud, bridge, lock.lockId);
      expect(restored.v).toBeGreaterThan(handedOut.v);
      await cloud.close();

      // The bound: restored and signing at a time before the last signature, v can fall below what went out
      // (docs/trust.md, Cloud: v is only as safe as the cloud's clock after a restore).
      copyFileSync(join(backup, DATABASE_FILE), join(dir, DATABASE_FILE));
      clock.set(before.v + HOUR_MS);
      cloud = await startTestCloud({ dataDir: dir, clock });
      expect((await fetchState(cloud, bridge, lock.lockId)).v).toBeLessThan(handedOut.v);
    } finally {
      await closeAll();
      rmSync(dir, { recursive: true, force: true });
      rmSync(backup, { recursive: true, force: true });
    }
  });
});
