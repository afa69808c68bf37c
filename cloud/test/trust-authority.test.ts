import { decodeSign1, fromBase64Url, TrustHeaderLabel, verifyHandOver, verifyLockState } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { recordReportedAuthority } from "../src/domain/authority.js";
import { type BridgeSetup, lh, type Tenant, type TestCloud, tenant, tenantSiteEach } from "./helpers.js";
import {
  authorityOf,
  claim,
  claimedLock,
  eventReport,
  factoryLock,
  fetchState,
  reportedAndClaimed,
  sendReports,
  upload,
} from "./lock.js";

let t: TestCloud;
let tn: Tenant;
let br: BridgeSetup;

tenantSiteEach({ bridge: true }, (s) => {
  ({ t, tn, br } = s);
});

const rotate = () => t.call("POST", lh(tn, "/authority/rotate"), { token: tn.token });
const report = (lockId: string, publicKey: Uint8Array) =>
  t.cloud.store.transaction((tx) =>
    recordReportedAuthority(tx, lockId, tn.lockHolderId, Buffer.from(publicKey).toString("hex")),
  );

describe("authority per lock holder (docs/trust.md, Cloud)", () => {
  it("is created when first needed, one per lock holder, sealed at rest", async () => {
    const first = await t.call("GET", lh(tn, "/authority"), { token: tn.token });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ handOver: null, locksBehind: 0 });
    expect(first.body.publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect((await t.call("GET", lh(tn, "/authority"), { token: tn.token })).body.publicKey).toBe(first.body.publicKey);
    const other = await tenant(t, "Other");
    const theirs = await t.call("GET", `/integrators/v1/lock-holders/${other.lockHolderId}/authority`, {
      token: other.token,
    });
    expect(theirs.body.publicKey).not.toBe(first.body.publicKey);
    const notMine = await t.call("GET", `/integrators/v1/lock-holders/${other.lockHolderId}/authority`, {
      token: tn.token,
    });
    expect(notMine.status).toBe(404);
    const stored = (await t.cloud.store.transaction((tx) => tx.authorities.current(tn.lockHolderId)))!;
    expect(stored.secretSealed).toMatch(/^v1\./);
  });

  it("rotates by a signed hand-over that a lock pinned to the old key follows, then pins the new key", async () => {
    const lock = factoryLock("lk-auth-01");
    await reportedAndClaimed(t, tn, br, lock);
    const oldKey = await authorityOf(t, tn);
    const before = await fetchState(t, br, lock.lockId);
    expect((await claim(t, tn, factoryLock("lk-auth-never-signed"))).status).toBe(201);
    const rotated = await rotate();
    expect(rotated.status).toBe(201);
    expect(rotated.body.handOver).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(rotated.body.locksBehind).toBe(2);
    // fromV: at most the lowest next v of the holder's signed locks; a claimed lock never signed does not pull it to 1.
    const handOver = verifyHandOver(fromBase64Url(rotated.body.handOver), { authority: oldKey });
    if (!handOver.ok) throw new Error(handOver.message);
    expect(handOver.handOver.fromV).toBe(Math.min(t.clock.now(), before.v + 1));
    const newKey = new Uint8Array(Buffer.from(rotated.body.publicKey, "hex"));
    const after = await fetchState(t, br, lock.lockId);
    expect(after.v).toBeGreaterThan(before.v);
    const followed = verifyLockState(after.bytes, { lockId: lock.lockId, authority: oldKey, currentV: before.v });
    if (!followed.ok) throw new Error(followed.message);
    expect(followed.pin).toBe("handover");
    expect(followed.authority).toEqual(newKey);
    // A fresh (reset) lock pins the new authority straight from the pin tag.
    const fresh = verifyLockState(after.bytes, { lockId: lock.lockId, claimSecret: lock.claimSecret });
    expect(fresh.ok && fresh.authority).toEqual(newKey);
  });

  it("refuses a second rotation with 409 until every claimed lock has reported the new key", async () => {
    const a = factoryLock("lk-auth-a");
    const b = factoryLock("lk-auth-b");
    await reportedAndClaimed(t, tn, br, a);
    await reportedAndClaimed(t, tn, br, b);
    const oldKey = await authorityOf(t, tn);
    expect((await rotate()).status).toBe(201);
    const newKey = await authorityOf(t, tn);
    const pending = await rotate();
    expect(pending.status).toBe(409);
    expect(pending.body.error).toBe("rotation_pending");
    expect(pending.body.errorDescription).toMatch(/^2 claimed lock/);
    expect(await report(a.lockId, newKey)).toBe(true);
    expect((await rotate()).status).toBe(409);
    // Reporting the old key does not count.
    expect(await report(b.lockId, new Uint8Array(32))).toBe(true);
    expect((await rotate()).status).toBe(409);
    expect(await report(b.lockId, newKey)).toBe(true);
    expect((await t.call("GET", lh(tn, "/authority"), { token: tn.token })).body.locksBehind).toBe(0);
    // A lock that reported the new key gets states without the hand-over: pinned to the old key, it could not follow.
    const state = await fetchState(t, br, a.lockId);
    const verdict = verifyLockState(state.bytes, { lockId: a.lockId, authority: oldKey });
    expect(verdict.ok || verdict.code).toBe("wrong_authority");
    expect(verifyLockState(state.bytes, { lockId: a.lockId, authority: newKey }).ok).toBe(true);
    const third = await rotate();
    expect(third.status).toBe(201);
    expect(await report("lk-unclaimed", newKey)).toBe(false);
  });

  it("a lock's sealed state_applied report of a state the new authority signed records it: the hand-over leaves its states, a second rotation may start", async () => {
    const lock = await claimedLock(t, tn, br, "lk-auth-applied");
    const oldState = await fetchState(t, br, lock.lockId);
    expect((await rotate()).status).toBe(201);
    const newKey = await authorityOf(t, tn);
    const withHandOver = await fetchState(t, br, lock.lockId);
    // The lock applies the old state, late: that says nothing about the new key.
    await sendReports(t, br, lock, [eventReport(lock, 1, { type: "state_applied", v: oldState.v })]);
    expect((await t.call("GET", lh(tn, "/authority"), { token: tn.token })).body.locksBehind).toBe(1);
    expect((await rotate()).status).toBe(409);
    // A forged report of the new v is refused and records nothing; the unsigned ingest takes no events at all.
    const forger = { ...lock, key: new Uint8Array(32).fill(3) };
    const forged = await upload(t, br, [
      { lockId: lock.lockId, report: eventReport(forger, 2, { type: "state_applied", v: withHandOver.v }) },
    ]);
    expect(forged.body.results[0].verdict).toBe("forged");
    expect((await t.call("GET", lh(tn, "/authority"), { token: tn.token })).body.locksBehind).toBe(1);
    // The lock applies the state carrying the hand-over and says so.
    await sendReports(t, br, lock, [eventReport(lock, 2, { type: "state_applied", v: withHandOver.v })]);
    expect((await t.call("GET", lh(tn, "/authority"), { token: tn.token })).body.locksBehind).toBe(0);
    const next = await fetchState(t, br, lock.lockId);
    expect(next.v).toBeGreaterThan(withHandOver.v);
    const verdict = verifyLockState(next.bytes, { lockId: lock.lockId, authority: newKey, currentV: withHandOver.v });
    expect(verdict.ok && verdict.pin).toBe("kept");
    expect(decodeSign1(next.bytes).protectedHeader.has(TrustHeaderLabel.handOver)).toBe(false);
    expect((await rotate()).status).toBe(201);
  });
});
