import { encodeTimeRequest, fromBase64Url, toBase64Url, toHex, verifyLockState } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { recordLockPublicKeys } from "../src/domain/claims.js";
import { type BridgeSetup, lh, type Tenant, type TestCloud, tenant, tenantSiteEach, virtualLocks } from "./helpers.js";
import { claim, factoryLock, reportedAndClaimed, reportFound, secretSpellings } from "./lock.js";

let t: TestCloud;
let tn: Tenant;
let br: BridgeSetup;

tenantSiteEach({ bridge: true }, (s) => {
  ({ t, tn, br } = s);
});

describe("claims with a setup code (docs/trust.md, Cloud)", () => {
  it("claims a lock: 201 with a claimed view, 200 when the same holder claims again", async () => {
    const lock = factoryLock("lk-claim-01");
    const first = await claim(t, tn, lock, "Front door");
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      lockId: "lk-claim-01",
      name: "Front door",
      claimed: true,
      claim: "pending",
      claimedAt: new Date(t.clock.now()).toISOString(),
      keysReported: false,
      stateV: null,
    });
    const again = await claim(t, tn, lock);
    expect(again.status).toBe(200);
    expect(again.body.name).toBe("Front door");
  });

  it("a new code for the same lock (another claim secret) re-signs at once with a pin tag under the new secret", async () => {
    const lock = factoryLock("lk-claim-09");
    await reportedAndClaimed(t, tn, br, lock);
    const first = await t.call("GET", `/bridge/v1/locks/${lock.lockId}/state`, { token: br.token });
    const renewed = factoryLock("lk-claim-09", "a second label for the same id");
    expect((await claim(t, tn, renewed)).status).toBe(200);
    const second = await t.call("GET", `/bridge/v1/locks/${lock.lockId}/state`, { token: br.token });
    expect(second.body.v).toBeGreaterThan(first.body.v);
    const verdict = verifyLockState(fromBase64Url(second.body.state), {
      lockId: lock.lockId,
      claimSecret: renewed.claimSecret,
    });
    expect(verdict.ok).toBe(true);
  });

  it("says which problem a bad code has: bad_checksum for a typo, bad_setup_code for anything else", async () => {
    const lock = factoryLock("lk-claim-02");
    const body = lock.setupCode.slice(4);
    const typo = `LK1:${body[0] === "A" ? "B" : "A"}${body.slice(1)}`;
    const mistyped = await t.call("POST", lh(tn, "/locks/claims"), { token: tn.token, body: { setupCode: typo } });
    expect(mistyped.status).toBe(422);
    expect(mistyped.body.error).toBe("bad_checksum");
    expect(mistyped.body.errorDescription).toMatch(/^setupCode: /);
    for (const setupCode of ["hello", "LK2:AAAA", "LK1:0189"]) {
      const bad = await t.call("POST", lh(tn, "/locks/claims"), { token: tn.token, body: { setupCode } });
      expect(bad.status, setupCode).toBe(422);
      expect(bad.body.error, setupCode).toBe("bad_setup_code");
    }
    const none = await t.call("GET", lh(tn, "/locks"), { token: tn.token });
    expect(none.body.locks).toEqual([]);
  });

  it("refuses a lock whose bridge serves another holder's claim with 409 that names nobody, whichever integrator that is", async () => {
    const lock = factoryLock("lk-claim-03");
    await reportedAndClaimed(t, tn, br, lock);
    const other = await tenant(t, "Other");
    const sameIntegratorLh = await t.call("POST", "/integrators/v1/lock-holders", {
      token: tn.token,
      body: { name: "Second home", countryIso: "NO" },
    });
    const sibling: Tenant = { ...tn, lockHolderId: sameIntegratorLh.body.id };
    const answers = [await claim(t, other, lock), await claim(t, sibling, lock)];
    for (const a of answers) {
      expect(a.status).toBe(409);
      expect(a.body.error).toBe("already_claimed");
      const text = JSON.stringify(a.body);
      for (const secret of [tn.lockHolderId, tn.integratorId, "Tenant", "homes"]) expect(text).not.toContain(secret);
    }
    expect(answers[0]!.body).toEqual(answers[1]!.body);
  });

  it("shows claimed on the lock read; virtual locks are claimed by construction", async () => {
    const lock = factoryLock("lk-claim-04");
    await reportedAndClaimed(t, tn, br, lock);
    const read = await t.call("GET", lh(tn, "/locks/lk-claim-04"), { token: tn.token });
    expect(read.body).toMatchObject({ id: "lk-claim-04", claimed: true, stateV: null, maxStale: null });
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
      token: br.token,
      body: { locks: [{ id: "lk-claim-04" }, { id: "lk-unclaimed" }] },
    });
    const unclaimed = await t.call("GET", lh(tn, "/locks/lk-unclaimed"), { token: tn.token });
    expect(unclaimed.body.claimed).toBe(false);
    const { lockIds } = await virtualLocks(t, tn, 1);
    const virtual = await t.call("GET", lh(tn, `/locks/${lockIds[0]}`), { token: tn.token });
    expect(virtual.body.claimed).toBe(true);
    const list = await t.call("GET", lh(tn, "/locks"), { token: tn.token });
    expect(Object.fromEntries(list.body.locks.map((l: { id: string; claimed: boolean }) => [l.id, l.claimed]))).toEqual(
      { "lk-claim-04": true, "lk-unclaimed": false, [lockIds[0]!]: true },
    );
  });

  it("an unclaimed lock its bridge reported: visible to that bridge's holder as claimed false, alike whether another holder claimed it or nobody did", async () => {
    await reportFound(t, br, { id: "lk-nobodys" }, { id: "lk-theirs" });
    const other = await tenant(t, "Other");
    const theirs = factoryLock("lk-theirs");
    expect((await claim(t, other, theirs)).status).toBe(201);
    const same = (lockId: string, body: unknown) => JSON.stringify(body).replaceAll(lockId, "<lock>");
    const seen: string[][] = [];
    for (const lockId of ["lk-nobodys", "lk-theirs"]) {
      const answers = [
        await t.call("GET", lh(tn, `/locks/${lockId}`), { token: tn.token }),
        await t.call("PATCH", lh(tn, `/locks/${lockId}`), { token: tn.token, body: { maxStale: 600 } }),
        await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId: "+4791234567" } }),
        await t.call("GET", `/bridge/v1/locks/${lockId}/state`, { token: br.token }),
        await t.call("POST", `/bridge/v1/locks/${lockId}/time`, {
          token: br.token,
          body: { request: toBase64Url(encodeTimeRequest({ lock: lockId, nonce: new Uint8Array(16) })) },
        }),
      ];
      expect(answers.map((a) => a.status)).toEqual([200, 409, 409, 404, 404]);
      expect(answers[0]!.body).toMatchObject({ id: lockId, claimed: false, stateV: null, maxStale: null });
      const text = JSON.stringify(answers.map((a) => a.body));
      for (const secret of [other.lockHolderId, other.integratorId, "Other"]) expect(text).not.toContain(secret);
      seen.push(answers.map((a) => same(lockId, a.body)));
    }
    expect(seen[0]).toEqual(seen[1]);
    const list = (await t.call("GET", lh(tn, "/locks"), { token: tn.token })).body.locks;
    expect(list.map((l: { id: string; claimed: boolean }) => [l.id, l.claimed])).toEqual([
      ["lk-nobodys", false],
      ["lk-theirs", false],
    ]);
    // The holder who claimed the lock its bridge never reported sees no lock at all (no row is theirs).
    expect((await t.call("GET", lh(other, "/locks/lk-theirs"), { token: other.token })).status).toBe(404);
  });

  it("PATCH sets maxStale on a claimed lock only (409 otherwise)", async () => {
    await reportedAndClaimed(t, tn, br, factoryLock("lk-claim-05"));
    const set = await t.call("PATCH", lh(tn, "/locks/lk-claim-05"), { token: tn.token, body: { maxStale: 86_400 } });
    expect(set.status).toBe(200);
    expect(set.body.maxStale).toBe(86_400);
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
      token: br.token,
      body: { locks: [{ id: "lk-claim-05" }, { id: "lk-claim-06" }] },
    });
    const refused = await t.call("PATCH", lh(tn, "/locks/lk-claim-06"), { token: tn.token, body: { maxStale: 600 } });
    expect(refused.status).toBe(409);
  });

  it("records a claimed lock's public keys only when they match the setup code's fingerprint", async () => {
    const lock = factoryLock("lk-claim-07");
    await claim(t, tn, lock);
    const impostor = factoryLock("lk-claim-07", "another-lock-same-id");
    const store = t.cloud.store;
    expect(await store.transaction((tx) => recordLockPublicKeys(tx, lock.lockId, tn.lockHolderId, impostor.keys))).toBe(
      "mismatch",
    );
    expect(
      await store.transaction((tx) =>
        recordLockPublicKeys(tx, lock.lockId, tn.lockHolderId, {
          ...lock.keys,
          agreementKey: impostor.keys.agreementKey,
        }),
      ),
    ).toBe("mismatch");
    expect(await store.transaction((tx) => recordLockPublicKeys(tx, "lk-nobody", tn.lockHolderId, lock.keys))).toBe(
      "not_claimed",
    );
    expect((await store.transaction((tx) => tx.lockClaims.get(lock.lockId, tn.lockHolderId)))!.identityKey).toBeNull();
    expect(await store.transaction((tx) => recordLockPublicKeys(tx, lock.lockId, tn.lockHolderId, lock.keys))).toBe(
      "recorded",
    );
    const stored = (await store.transaction((tx) => tx.lockClaims.get(lock.lockId, tn.lockHolderId)))!;
    expect(stored.identityKey).toBe(toHex(lock.keys.identityKey));
    expect(stored.agreementKey).toBe(toHex(lock.keys.agreementKey));
  });

  it("keeps the claim secret out of every answer, log line and the database in the clear", async () => {
    const lock = factoryLock("lk-claim-08");
    const answers: unknown[] = [];
    const record = async (p: Promise<{ body: unknown; headers: unknown }>) => answers.push(await p);
    await record(claim(t, tn, lock));
    await record(claim(t, tn, lock));
    await record(claim(t, await tenant(t, "Other"), lock));
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
      token: br.token,
      body: { locks: [{ id: lock.lockId }] },
    });
    await record(t.call("GET", lh(tn, `/locks/${lock.lockId}`), { token: tn.token }));
    await record(t.call("GET", lh(tn, "/locks"), { token: tn.token }));
    await record(t.call("GET", `/bridge/v1/locks/${lock.lockId}/state`, { token: br.token }));
    const text = JSON.stringify(answers) + JSON.stringify(t.logs.lines);
    for (const spelling of secretSpellings(lock.claimSecret)) expect(text).not.toContain(spelling);
    expect(text).not.toContain(lock.setupCode.slice(4, 40));
    const stored = (await t.cloud.store.transaction((tx) => tx.lockClaims.get(lock.lockId, tn.lockHolderId)))!;
    for (const spelling of secretSpellings(lock.claimSecret)) expect(JSON.stringify(stored)).not.toContain(spelling);
  });
});
