import { fromBase64Url, toBase64Url, verifyLockState } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import {
  type BridgeSetup,
  bridgeWithConnection,
  lh,
  type Tenant,
  type TestCloud,
  tenant,
  tenantSiteEach,
} from "./helpers.js";
import { eventReport, factoryLock, keyedLock, type TestLock, telemetryReport, upload } from "./lock.js";

/**
 * Issue 13: the ingest of lock-authenticated reports (docs/bridge-api.md "Reports from the lock", docs/reports.md
 * "Cloud"), on both store dialects.
 */
let t: TestCloud;
let tn: Tenant;
let br: BridgeSetup;

async function reportedClaimedKeyed(lockId: string, seed = lockId): Promise<TestLock> {
  const lock = factoryLock(lockId, seed);
  const found = await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
    token: br.token,
    body: { locks: [{ id: lockId }] },
  });
  expect(found.status).toBe(200);
  const claimed = await t.call("POST", lh(tn, "/locks/claims"), {
    token: tn.token,
    body: { setupCode: lock.setupCode },
  });
  expect(claimed.status).toBe(201);
  return keyedLock(t, br, lock);
}

async function ackOf(lock: TestLock): Promise<number> {
  const res = await t.call("GET", `/bridge/v1/locks/${lock.lockId}/state`, { token: br.token });
  const verdict = verifyLockState(fromBase64Url(res.body.state), {
    lockId: lock.lockId,
    claimSecret: lock.claimSecret,
  });
  if (!verdict.ok) throw new Error(verdict.message);
  return verdict.state.ack;
}

const verdicts = (body: { results: { verdict: string }[] }) => body.results.map((r) => r.verdict);

/** Flips one bit at `at` (negative: from the end), or inside the first occurrence of `marker`. */
function flip(report: string, at: number | string): string {
  const bytes = fromBase64Url(report);
  const i = typeof at === "string" ? Buffer.from(bytes).indexOf(at) : at < 0 ? bytes.length + at : at;
  if (i < 0) throw new Error("marker not found");
  bytes[i]! ^= 0x01;
  return toBase64Url(bytes);
}

tenantSiteEach({ bridge: true }, (s) => {
  ({ t, tn, br } = s);
});

describe("POST /bridge/v1/reports", () => {
  it("accepts a claimed lock's first report with its keys, stores the event and pins the keys", async () => {
    const lock = await reportedClaimedKeyed("lk-rep-01");
    const res = await upload(t, br, [
      { lockId: lock.lockId, report: eventReport(lock, 1), keys: lock.wireKeys },
      { lockId: lock.lockId, report: telemetryReport(lock, 77, 1_800_000_100) },
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      results: [
        { index: 0, verdict: "ok" },
        { index: 1, verdict: "ok" },
      ],
      counts: {
        ok: 2,
        duplicate: 0,
        forged: 0,
        wrong_lock: 0,
        replayed: 0,
        malformed: 0,
        unknown_key: 0,
        unclaimed: 0,
      },
      gaps: [],
    });
    const claimView = await t.call("GET", lh(tn, `/locks/${lock.lockId}`), { token: tn.token });
    expect(claimView.body).toMatchObject({ battery: { level: 77 }, missingEvents: 0 });
    const events = await t.call("GET", lh(tn, "/events"), { token: tn.token });
    expect(events.status).toBe(200);
    expect(JSON.stringify(events.body)).toContain(lock.lockId);
    expect(await ackOf(lock)).toBe(1);
    // After the first report the keys are pinned: keys that differ are forged, the same keys are fine.
    const other = factoryLock(lock.lockId, "another label");
    const next = await upload(t, br, [
      { lockId: lock.lockId, report: eventReport(lock, 2), keys: other.wireKeys },
      { lockId: lock.lockId, report: eventReport(lock, 3), keys: lock.wireKeys },
    ]);
    expect(verdicts(next.body)).toEqual(["forged", "ok"]);
  });

  it("refuses forged and altered reports, and another lock's report, without refusing the honest items", async () => {
    const a = await reportedClaimedKeyed("lk-rep-a");
    const b = await reportedClaimedKeyed("lk-rep-b");
    expect((await upload(t, br, [{ lockId: b.lockId, report: eventReport(b, 1), keys: b.wireKeys }])).status).toBe(200);
    const honest1 = eventReport(a, 1);
    // A bit of the event id (inside the MACed payload), then a bit of the tag.
    const altered = flip(eventReport(a, 2), `${a.lockId}:2`);
    const forgedTag = flip(eventReport(a, 3), -1);
    const bsReport = eventReport(b, 2);
    const honest2 = eventReport(a, 4);
    const res = await upload(t, br, [
      { lockId: a.lockId, report: honest1, keys: a.wireKeys },
      { lockId: a.lockId, report: altered },
      { lockId: a.lockId, report: forgedTag },
      { lockId: a.lockId, report: bsReport },
      { lockId: a.lockId, report: "%%not base64url%%" },
      { lockId: a.lockId, report: honest2 },
    ]);
    expect(res.status).toBe(200);
    expect(verdicts(res.body)).toEqual(["ok", "forged", "forged", "wrong_lock", "malformed", "ok"]);
    expect(res.body.counts).toMatchObject({ ok: 2, forged: 2, wrong_lock: 1, malformed: 1 });
    // Counters 2 and 3 were sealed by the lock but never accepted: a gap of 2.
    expect(res.body.gaps).toEqual([{ lockId: a.lockId, missing: 2 }]);
  });

  it("a huge counter in a forged report moves nothing; the lock's next honest report is accepted", async () => {
    const lock = await reportedClaimedKeyed("lk-rep-huge");
    const attacker = { ...lock, key: new Uint8Array(32).fill(7) };
    const res = await upload(t, br, [
      { lockId: lock.lockId, report: eventReport(attacker, 1, {}, Number.MAX_SAFE_INTEGER), keys: lock.wireKeys },
    ]);
    expect(verdicts(res.body)).toEqual(["forged"]);
    const honest = await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 1), keys: lock.wireKeys }]);
    expect(verdicts(honest.body)).toEqual(["ok"]);
  });

  it("a bridge's retry is `duplicate`; a report whose counter was skipped, arriving late, is `replayed`", async () => {
    const lock = await reportedClaimedKeyed("lk-rep-replay");
    const r1 = eventReport(lock, 1);
    const late = eventReport(lock, 2);
    const r3 = eventReport(lock, 3);
    const first = await upload(t, br, [
      { lockId: lock.lockId, report: r1, keys: lock.wireKeys },
      { lockId: lock.lockId, report: r3 },
    ]);
    expect(verdicts(first.body)).toEqual(["ok", "ok"]);
    expect(first.body.gaps).toEqual([{ lockId: lock.lockId, missing: 1 }]);
    const retry = await upload(t, br, [
      { lockId: lock.lockId, report: r1 },
      { lockId: lock.lockId, report: r3 },
      { lockId: lock.lockId, report: late },
    ]);
    expect(verdicts(retry.body)).toEqual(["duplicate", "duplicate", "replayed"]);
    expect(retry.body.counts).toMatchObject({ ok: 0, duplicate: 2, replayed: 1 });
  });

  it("first report: keys that do not match the setup code's fingerprint, or no keys, are forged", async () => {
    const lock = await reportedClaimedKeyed("lk-rep-keys");
    const impostor = factoryLock(lock.lockId, "an impostor");
    const res = await upload(t, br, [
      { lockId: lock.lockId, report: eventReport(lock, 1), keys: impostor.wireKeys },
      { lockId: lock.lockId, report: eventReport(lock, 2) },
      { lockId: lock.lockId, report: eventReport(lock, 3), keys: { identity: "AAAA", x25519: "AAAA" } },
    ]);
    expect(verdicts(res.body)).toEqual(["forged", "forged", "malformed"]);
    const stored = await t.cloud.store.transaction((tx) => tx.lockClaims.get(lock.lockId, tn.lockHolderId));
    expect(stored?.identityKey).toBeNull();
  });

  it("an unclaimed lock, an unknown lock and another tenant's lock get the same answer", async () => {
    const claimed = await reportedClaimedKeyed("lk-rep-mine");
    const unclaimed = factoryLock("lk-rep-unclaimed");
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/locks`, {
      token: br.token,
      body: { locks: [{ id: claimed.lockId }, { id: unclaimed.lockId }] },
    });
    const forUnclaimed = { ...claimed, lockId: unclaimed.lockId };
    const res = await upload(t, br, [
      { lockId: unclaimed.lockId, report: eventReport(forUnclaimed, 1), keys: unclaimed.wireKeys },
      { lockId: "lk-rep-nobody", report: eventReport(claimed, 1), keys: claimed.wireKeys },
    ]);
    expect(verdicts(res.body)).toEqual(["unclaimed", "unclaimed"]);
    expect(res.body.results[0].message).toBe(res.body.results[1].message);
    // Another tenant's bridge, with the lock's true report and keys.
    const other = await tenant(t, "Other");
    const otherBridge = await bridgeWithConnection(t, other, "site-b", "pw-b");
    const theirs = await upload(t, otherBridge, [
      { lockId: claimed.lockId, report: eventReport(claimed, 1), keys: claimed.wireKeys },
    ]);
    expect(theirs.status).toBe(200);
    expect(theirs.body.results).toEqual([{ index: 0, verdict: "unclaimed", message: res.body.results[1].message }]);
    // Nothing was accepted for the claimed lock through the other bridge.
    expect(
      verdicts(
        (await upload(t, br, [{ lockId: claimed.lockId, report: eventReport(claimed, 1), keys: claimed.wireKeys }]))
          .body,
      ),
    ).toEqual(["ok"]);
  });

  it("one upload of many locks: each item judged by its own lock's eligibility, claim, keys and counter", async () => {
    const a = await reportedClaimedKeyed("lk-rep-many-a");
    const b = await reportedClaimedKeyed("lk-rep-many-b");
    // The holder's other bridge serves this one: its reports are not this bridge's to carry, however authentic.
    const otherBridge = await bridgeWithConnection(t, tn, "site-b", "pw-b");
    const elsewhere = factoryLock("lk-rep-many-elsewhere");
    await t.call("PUT", `/bridge/v1/vendor-connections/${otherBridge.vcId}/locks`, {
      token: otherBridge.token,
      body: { locks: [{ id: elsewhere.lockId }] },
    });
    expect(
      (await t.call("POST", lh(tn, "/locks/claims"), { token: tn.token, body: { setupCode: elsewhere.setupCode } }))
        .status,
    ).toBe(201);
    await keyedLock(t, otherBridge, elsewhere);
    const res = await upload(t, br, [
      { lockId: b.lockId, report: eventReport(b, 1), keys: b.wireKeys },
      { lockId: elsewhere.lockId, report: eventReport(elsewhere, 1), keys: elsewhere.wireKeys },
      { lockId: a.lockId, report: eventReport(a, 1), keys: a.wireKeys },
      { lockId: "lk-rep-many-nobody", report: eventReport(a, 2) },
      { lockId: b.lockId, report: eventReport(b, 3, {}, 3) },
      { lockId: a.lockId, report: eventReport(a, 2, {}, 2) },
    ]);
    expect(verdicts(res.body)).toEqual(["ok", "unclaimed", "ok", "unclaimed", "ok", "ok"]);
    expect(res.body.gaps).toEqual([{ lockId: b.lockId, missing: 1 }]);
    // Through its own bridge the other lock's report is accepted, once.
    const own = await upload(t, otherBridge, [
      { lockId: elsewhere.lockId, report: eventReport(elsewhere, 1, {}, 1), keys: elsewhere.wireKeys },
    ]);
    expect(verdicts(own.body)).toEqual(["ok"]);
    const again = await upload(t, br, [
      { lockId: a.lockId, report: eventReport(a, 2, {}, 2) },
      { lockId: b.lockId, report: eventReport(b, 2, {}, 2) },
    ]);
    expect(verdicts(again.body)).toEqual(["duplicate", "replayed"]);
  });

  it("the signed ack moves only with authenticated events, contiguously; missingEvents counts the holes", async () => {
    const lock = await reportedClaimedKeyed("lk-rep-ack");
    // A gateway's unsigned upload of a high seq is refused: it cannot make the cloud sign an ack that frees events.
    const unsigned = await t.call("POST", "/bridge/v1/ingest", {
      token: br.token,
      body: { events: [{ id: "ab".repeat(16), lockId: lock.lockId, seq: 1000, ts: 1_800_000_000, type: "unlocked" }] },
    });
    expect(unsigned.status).toBe(400);
    expect(unsigned.body.error).toBe("signed_reports_only");
    expect(await ackOf(lock)).toBe(0);
    const res = await upload(t, br, [
      { lockId: lock.lockId, report: eventReport(lock, 1), keys: lock.wireKeys },
      { lockId: lock.lockId, report: eventReport(lock, 2) },
      { lockId: lock.lockId, report: eventReport(lock, 4) },
      { lockId: lock.lockId, report: eventReport(lock, 6) },
    ]);
    expect(verdicts(res.body)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(await ackOf(lock)).toBe(2);
    const view = async () => (await t.call("GET", lh(tn, `/locks/${lock.lockId}`), { token: tn.token })).body;
    expect((await view()).missingEvents).toBe(2);
    // The lock seals seq 3 again under a new counter (its first sealing was lost): the ack moves over 3 and 4.
    await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 3) }]);
    expect(await ackOf(lock)).toBe(4);
    expect((await view()).missingEvents).toBe(1);
  });

  it("the ack passes the seqs an authentic event says the ring dropped, so an overflow does not stall it", async () => {
    const lock = await reportedClaimedKeyed("lk-rep-dropped");
    await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 1), keys: lock.wireKeys }]);
    expect(await ackOf(lock)).toBe(1);
    // The ring overflowed: seqs 2..4 are gone, and the lock's event 5 says so (dropped 3), sealed like any event.
    await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 5, { dropped: 3 }) }]);
    expect(await ackOf(lock)).toBe(5);
    // A drop above a hole waits for the hole: 6 missing, 9 says 7..8 were dropped.
    await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 9, { dropped: 2 }) }]);
    expect(await ackOf(lock)).toBe(5);
    const view = async () => (await t.call("GET", lh(tn, `/locks/${lock.lockId}`), { token: tn.token })).body;
    expect((await view()).missingEvents).toBe(1);
    await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 6) }]);
    expect(await ackOf(lock)).toBe(9);
    expect((await view()).missingEvents).toBe(0);
    // Event 12 stored first with no drop; then the ring drops 10..11 and the lock re-seals 12 saying so: the row is
    // stored already, the drop count still settles 10 and 11.
    const id12 = new Uint8Array(16).fill(12);
    await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 12, { id: id12 }) }]);
    expect(await ackOf(lock)).toBe(9);
    await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 12, { id: id12, dropped: 2 }) }]);
    expect(await ackOf(lock)).toBe(12);
  });

  it("lists an event of a lock that never knew the time (ts 0) at the time the cloud stored it", async () => {
    const lock = await reportedClaimedKeyed("lk-rep-ts0");
    await upload(t, br, [
      {
        lockId: lock.lockId,
        report: eventReport(lock, 1, { ts: 0, type: "denied", code: "clock_unset" }),
        keys: lock.wireKeys,
      },
    ]);
    const events = (await t.call("GET", lh(tn, "/events"), { token: tn.token })).body.events as {
      lockId: string;
      action: string;
      created: string;
    }[];
    const mine = events.filter((e) => e.lockId === lock.lockId);
    expect(mine.map((e) => e.action)).toEqual(["denied"]);
    expect(Date.parse(mine[0]!.created)).toBe(Math.floor(t.clock.now() / 1000) * 1000);
  });

  it("refuses a batch over 1000 items with 400 and stores nothing", async () => {
    const lock = await reportedClaimedKeyed("lk-rep-cap");
    const items = Array.from({ length: 1001 }, () => ({ lockId: lock.lockId, report: "AA" }));
    const res = await upload(t, br, items);
    expect(res.status).toBe(400);
    expect(res.body.error).toBeDefined();
  });
});
