import { encodeSetupCode, fingerprint, verifyLockState } from "@latchkey/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type BridgeSetup,
  bridgeWithConnection,
  closeAll,
  lh,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  until,
  virtualLocks,
} from "./helpers.js";
import {
  claim,
  eventReport,
  factoryLock,
  fetchState,
  keyedLock,
  reportFound,
  sendReports,
  type TestLock,
  upload,
} from "./lock.js";
import { receiversEach } from "./receiver.js";
import { keyRecord } from "./store-fixtures.js";

/**
 * A claim is pending until the lock proves it (docs/design.md section 7 "Identity and claim", docs/trust.md "Cloud"):
 * the cloud has never seen a lock's claim secret, so anyone who knows a lock's id and public keys (any courier, anyone
 * in BLE range) can make a setup code with a made-up secret and the right fingerprint. Such a claim must not keep the
 * owner from claiming; the lock's authenticated `state_applied` report of a state signed for a claim confirms it.
 */

let t: TestCloud;
let owner: Tenant;
let ownerBridge: BridgeSetup;
let mallory: Tenant;
let malloryBridge: BridgeSetup;

beforeEach(async () => {
  t = await startTestCloud();
  owner = await tenant(t, "Owner");
  ownerBridge = await bridgeWithConnection(t, owner, "owner-site", "owner-pw");
  mallory = await tenant(t, "Mallory");
  malloryBridge = await bridgeWithConnection(t, mallory, "mallory-site", "mallory-pw");
});
afterEach(closeAll);
const receiver = receiversEach();

/** What an attacker builds from what couriers learn: the lock's id and public keys, and a guessed claim secret. */
function guessed(lock: TestLock): TestLock {
  const claimSecret = new Uint8Array(16).fill(0x5a);
  const setupCode = encodeSetupCode({ lockId: lock.lockId, claimSecret, fingerprint: fingerprint(lock.keys) });
  return { ...lock, claimSecret, setupCode, ctr: 0, keysSent: false };
}

/** The same lock after a factory reset: new keys, the printed claim secret unchanged. */
function afterFactoryReset(lock: TestLock, seed: string): TestLock {
  const fresh = factoryLock(lock.lockId, seed);
  const setupCode = encodeSetupCode({
    lockId: lock.lockId,
    claimSecret: lock.claimSecret,
    fingerprint: fingerprint(fresh.keys),
  });
  return { ...fresh, claimSecret: lock.claimSecret, setupCode };
}

const readLock = (tn: Tenant, lockId: string) => t.call("GET", lh(tn, `/locks/${lockId}`), { token: tn.token });
const claimsOf = (lockId: string) => t.cloud.store.transaction((tx) => tx.lockClaims.listForLock(lockId));
const applied = (lock: TestLock, seq: number, v: number) => eventReport(lock, seq, { type: "state_applied", v });

/** The owner's bridge serves the lock, the owner claims it, and its bridge fetches the state signed for the claim. */
async function ownerProvisions(lock: TestLock): Promise<number> {
  await reportFound(t, ownerBridge, { id: lock.lockId });
  const claimed = await claim(t, owner, lock);
  expect(claimed.status).toBe(201);
  expect(claimed.body.claim).toBe("pending");
  await keyedLock(t, ownerBridge, lock);
  return (await fetchState(t, ownerBridge, lock.lockId)).v;
}

describe("a claim is pending until the lock proves it (docs/trust.md, Cloud)", () => {
  it("a guessed code (the lock's id and public keys, a made-up secret) does not keep the owner from claiming", async () => {
    const lock = factoryLock("lk-proof-squat");
    const squat = await claim(t, mallory, guessed(lock));
    expect(squat.status).toBe(201);
    await reportFound(t, ownerBridge, { id: lock.lockId });
    const genuine = await claim(t, owner, lock, "Front door");
    expect(genuine.status).toBe(201);
    expect(squat.body).toMatchObject({ lockId: lock.lockId, claimed: true, claim: "pending" });
    expect(genuine.body).toMatchObject({ lockId: lock.lockId, name: "Front door", claim: "pending" });
    // Neither answer names the other tenant.
    for (const [answer, other] of [
      [squat, owner],
      [genuine, mallory],
    ] as const) {
      for (const secret of [other.lockHolderId, other.integratorId])
        expect(JSON.stringify(answer.body)).not.toContain(secret);
    }
    // Both pending, and the owner's bridge gets the owner's state: its pin tag is made with the printed secret.
    const claims = await claimsOf(lock.lockId);
    expect(new Map(claims.map((c) => [c.lockHolderId, c.confirmedAt]))).toEqual(
      new Map([
        [owner.lockHolderId, null],
        [mallory.lockHolderId, null],
      ]),
    );
    const state = await fetchState(t, ownerBridge, lock.lockId);
    expect(verifyLockState(state.bytes, { lockId: lock.lockId, claimSecret: lock.claimSecret }).ok).toBe(true);
    expect((await readLock(owner, lock.lockId)).body).toMatchObject({ claimed: true, claim: "pending" });
  });

  it("the owner's claim confirms when its lock applies the state signed for it; the guessed claim is dropped", async () => {
    const lock = factoryLock("lk-proof-owner");
    expect((await claim(t, mallory, guessed(lock))).status).toBe(201);
    const v = await ownerProvisions(lock);

    // Nothing but the lock's own sealed word of a v signed for this claim confirms it: not a v never signed, not a
    // forged report of the right v.
    await sendReports(t, ownerBridge, lock, [applied(lock, 1, v + 1)]);
    expect((await readLock(owner, lock.lockId)).body.claim).toBe("pending");
    const forger = { ...lock, key: new Uint8Array(32).fill(7) };
    const forged = await upload(t, ownerBridge, [{ lockId: lock.lockId, report: applied(forger, 2, v) }]);
    expect(forged.body.results[0].verdict).toBe("forged");
    expect((await readLock(owner, lock.lockId)).body.claim).toBe("pending");
    expect(await claimsOf(lock.lockId)).toHaveLength(2);

    await sendReports(t, ownerBridge, lock, [applied(lock, 3, v)]);
    const read = await readLock(owner, lock.lockId);
    expect(read.body).toMatchObject({ claimed: true, claim: "confirmed" });
    const claims = await claimsOf(lock.lockId);
    expect(claims.map((c) => c.lockHolderId)).toEqual([owner.lockHolderId]);
    expect(claims[0]!.confirmedAt).toBe(t.clock.now());
    expect(claims[0]!.signedVs).toEqual([]);
    const listed = await t.call("GET", lh(owner, "/locks"), { token: owner.token });
    expect(listed.body.locks).toEqual([expect.objectContaining({ id: lock.lockId, claim: "confirmed" })]);

    // The confirmed claim now stands in the way: the guessed code again is 409, naming nobody.
    const again = await claim(t, mallory, guessed(lock));
    expect(again.status).toBe(409);
    expect(again.body.error).toBe("already_claimed");
    for (const secret of [owner.lockHolderId, owner.integratorId, "Owner"])
      expect(JSON.stringify(again.body)).not.toContain(secret);
  });

  it("the attacker's pending claim (its bridge served the lock first, its keys made) is dropped and its keys end", async () => {
    const lock = factoryLock("lk-proof-keys");
    const attack = guessed(lock);
    // The attacker's gateway reports the lock id first and claims it: pending, and it may key it.
    await reportFound(t, malloryBridge, { id: lock.lockId });
    expect((await claim(t, mallory, attack)).status).toBe(201);
    const malloryKey = await t.call("POST", lh(mallory, `/locks/${lock.lockId}/keys`), {
      token: mallory.token,
      body: { userId: "+4790000901" },
    });
    expect(malloryKey.status).toBe(201);
    // Its state carries a pin tag made with the guessed secret: the lock refuses it (no pin, so no token opens).
    const squatState = await fetchState(t, malloryBridge, lock.lockId);
    const atLock = verifyLockState(squatState.bytes, { lockId: lock.lockId, claimSecret: lock.claimSecret });
    expect(atLock.ok || atLock.code).toBe("bad_pin");
    // While that holder's bridge serves the lock, its claim stands in the way (one lock row per id).
    expect((await claim(t, owner, lock)).status).toBe(409);

    // The lock leaves the attacker's connection (a refresh without it): the owner's bridge serves it, the owner claims.
    await t.call("PUT", lh(mallory, `/vendor-connections/${malloryBridge.vcId}/refresh`), { token: mallory.token });
    await reportFound(t, malloryBridge);
    const v = await ownerProvisions(lock);
    expect(v).toBeGreaterThan(squatState.v);
    // The lock reports applying the attacker's v (it could not: but were it said, it is not the owner's claim's v).
    await sendReports(t, ownerBridge, lock, [applied(lock, 1, squatState.v)]);
    expect((await readLock(owner, lock.lockId)).body.claim).toBe("pending");

    // A key of the attacker on this lock id still live (every path that moves a lock's row ends its keys; this one is
    // put there by hand): the confirmation ends it too.
    const stray = keyRecord({
      id: "key_stray",
      lockHolderId: mallory.lockHolderId,
      lockId: lock.lockId,
      cti: "c0ffee".padEnd(32, "0"),
      userId: "+4790000902",
      startAt: t.clock.now(),
      createdAt: t.clock.now(),
    });
    await t.cloud.store.transaction((tx) => tx.keys.insert(stray));
    // The attacker's integrator hears of the end of its keys as of any revocation (docs/webhooks.md key.revoked).
    const hooked = await receiver();
    const created = await t.call("POST", lh(mallory, "/webhooks"), {
      token: mallory.token,
      body: { url: hooked.url, eventTypes: ["key.revoked"] },
    });
    expect(created.status).toBe(201);
    const feedBefore = (await t.call("GET", "/bridge/v1/changes", { token: ownerBridge.token })).body.cursor;

    await sendReports(t, ownerBridge, lock, [applied(lock, 2, v)]);
    expect((await readLock(owner, lock.lockId)).body.claim).toBe("confirmed");
    expect((await claimsOf(lock.lockId)).map((c) => c.lockHolderId)).toEqual([owner.lockHolderId]);
    for (const keyId of [malloryKey.body.id, stray.id]) {
      const key = await t.cloud.store.transaction((tx) => tx.keys.get(keyId));
      expect([keyId, key?.status]).toEqual([keyId, "revoked"]);
    }
    // The stray key (the attacker's other key ended with its connection's refresh, before the webhook was made).
    await until("key.revoked", () => hooked.got.length === 1);
    const told = JSON.parse(hooked.got[0]!.body) as { type: string; data: { id: string; state: string } };
    expect([told.type, told.data.id, told.data.state]).toEqual(["key.revoked", stray.id, "revoked"]);
    // Nothing of the other tenant reaches the owner's bridge: no feed entry, no revocation in the owner's state.
    const feed = await t.call("GET", `/bridge/v1/changes?cursor=${feedBefore}`, { token: ownerBridge.token });
    expect(JSON.stringify(feed.body)).not.toContain(mallory.lockHolderId);
    expect(JSON.stringify(feed.body)).not.toContain(stray.id);
    const state = await fetchState(t, ownerBridge, lock.lockId);
    const verdict = verifyLockState(state.bytes, { lockId: lock.lockId, claimSecret: lock.claimSecret });
    expect(verdict.ok && verdict.state.revoked).toEqual([]);
    // The attacker sees no lock and no claim of it; claiming again is 409.
    expect((await readLock(mallory, lock.lockId)).status).toBe(404);
    expect((await claim(t, mallory, attack)).status).toBe(409);
  });

  it("a holder's claim again after a factory reset: pending until the reset lock applies the new state, then confirmed", async () => {
    const lock = factoryLock("lk-proof-reset");
    const v = await ownerProvisions(lock);
    await sendReports(t, ownerBridge, lock, [applied(lock, 1, v)]);
    expect((await readLock(owner, lock.lockId)).body.claim).toBe("confirmed");

    // The same code again changes nothing the lock proved.
    const same = await claim(t, owner, lock);
    expect(same.status).toBe(200);
    expect(same.body.claim).toBe("confirmed");

    // Reset: new keys, the printed secret unchanged; the label scanned again is a claim again, pending.
    t.clock.advance(1000);
    const reset = afterFactoryReset(lock, "after a factory reset");
    const again = await claim(t, owner, reset);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ claim: "pending", keysReported: false });
    // Its bridge still serves it: the pending claim stands in another holder's way.
    expect((await claim(t, mallory, guessed(reset))).status).toBe(409);
    // The reset lock reporting the state it applied before the reset proves nothing about this claim.
    await keyedLock(t, ownerBridge, reset);
    await sendReports(t, ownerBridge, reset, [applied(reset, 1, v)]);
    expect((await readLock(owner, lock.lockId)).body.claim).toBe("pending");
    const next = await fetchState(t, ownerBridge, lock.lockId);
    expect(next.v).toBeGreaterThan(v);
    expect(verifyLockState(next.bytes, { lockId: lock.lockId, claimSecret: lock.claimSecret }).ok).toBe(true);
    await sendReports(t, ownerBridge, reset, [applied(reset, 2, next.v)]);
    expect((await readLock(owner, lock.lockId)).body).toMatchObject({ claimed: true, claim: "confirmed" });
  });

  it("keys may be made on a pending claim; any v signed for it confirms it, the older as well as the newer", async () => {
    const lock = factoryLock("lk-proof-v");
    expect((await claim(t, mallory, guessed(lock))).status).toBe(201);
    const v = await ownerProvisions(lock);
    const keyFor = (userId: string) =>
      t.call("POST", lh(owner, `/locks/${lock.lockId}/keys`), { token: owner.token, body: { userId } });
    const kept = await keyFor("+4790000903");
    const revoked = await keyFor("+4790000904");
    expect([kept.status, revoked.status]).toEqual([201, 201]);
    // A revocation changes what the state says: signed again, above the last v (the clock stands still).
    await t.call("PUT", lh(owner, `/keys/${revoked.body.id}`), { token: owner.token, body: { state: "revoked" } });
    const after = await fetchState(t, ownerBridge, lock.lockId);
    expect(after.v).toBeGreaterThan(v);
    const mine = (await claimsOf(lock.lockId)).find((c) => c.lockHolderId === owner.lockHolderId)!;
    expect(mine.signedVs).toEqual([v, after.v]);
    // The lock may apply either (a phone's older copy, the bridge's newer one): both were signed for this claim.
    await sendReports(t, ownerBridge, lock, [applied(lock, 1, v)]);
    expect((await readLock(owner, lock.lockId)).body.claim).toBe("confirmed");
    expect((await t.call("GET", lh(owner, `/keys/${kept.body.id}`), { token: owner.token })).body.state).toBe("active");
  });

  it("shows claim on every lock read: pending, confirmed, null when not claimed; virtual locks confirmed", async () => {
    const lock = factoryLock("lk-proof-view");
    await reportFound(t, ownerBridge, { id: lock.lockId }, { id: "lk-proof-unclaimed" });
    expect((await claim(t, owner, lock)).status).toBe(201);
    const { lockIds } = await virtualLocks(t, owner, 1);
    const list = await t.call("GET", lh(owner, "/locks"), { token: owner.token });
    expect(
      Object.fromEntries(
        list.body.locks.map((l: { id: string; claimed: boolean; claim: string | null }) => [
          l.id,
          [l.claimed, l.claim],
        ]),
      ),
    ).toEqual({
      [lock.lockId]: [true, "pending"],
      "lk-proof-unclaimed": [false, null],
      [lockIds[0]!]: [true, "confirmed"],
    });
    expect((await readLock(owner, "lk-proof-unclaimed")).body.claim).toBeNull();
    const patched = await t.call("PATCH", lh(owner, `/locks/${lock.lockId}`), {
      token: owner.token,
      body: { maxStale: 3600 },
    });
    expect(patched.body).toMatchObject({ claim: "pending", maxStale: 3600 });
  });

  it("a pending claim's lock gets its state and time through its holder's bridge only", async () => {
    const lock = factoryLock("lk-proof-served");
    expect((await claim(t, mallory, guessed(lock))).status).toBe(201);
    // The lock is not served under the attacker's connection: no state for its claim, the same 404 as for nothing.
    const theirs = await t.call("GET", `/bridge/v1/locks/${lock.lockId}/state`, { token: malloryBridge.token });
    const nothing = await t.call("GET", "/bridge/v1/locks/lk-nothing/state", { token: malloryBridge.token });
    expect([theirs.status, nothing.status]).toEqual([404, 404]);
    expect(JSON.stringify(theirs.body).replaceAll(lock.lockId, "<id>")).toBe(
      JSON.stringify(nothing.body).replaceAll("lk-nothing", "<id>"),
    );
    await ownerProvisions(lock);
    // The owner's bridge gets the owner's state, never one signed for the other claim.
    const state = await fetchState(t, ownerBridge, lock.lockId);
    const mine = await t.cloud.store.transaction((tx) => tx.lockClaims.get(lock.lockId, owner.lockHolderId));
    expect(state.v).toBe(mine!.stateV);
    const other = await t.cloud.store.transaction((tx) => tx.lockClaims.get(lock.lockId, mallory.lockHolderId));
    expect(other!.stateV).toBeNull();
  });
});
