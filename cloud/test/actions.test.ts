import {
  commandResultBinding,
  fromBase64Url,
  NonceBook,
  type RemoteCommand,
  toBase64Url,
  verifyRemoteCommand,
} from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import {
  type BridgeSetup,
  bridgeWithConnection,
  integratorToken,
  lh,
  seededRandom,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  tenantSiteEach,
  virtualLocks,
} from "./helpers.js";
import { authorityOf, claimedLock, eventReport, reportFound, sendReports, type TestLock, upload } from "./lock.js";

/**
 * Remote actions (docs/bridge-api.md "Remote actions", docs/design.md section 7 "Remote commands"): the integrator
 * asks, the bridge carries a command the lock holder's authority signs over the lock's own nonce, and only the lock's
 * sealed report says it was done.
 */
let t: TestCloud;
let tn: Tenant;
let br: BridgeSetup;
let lock: TestLock;
const nonces = seededRandom("lock command nonces");

tenantSiteEach({ bridge: true }, async (s) => {
  ({ t, tn, br } = s);
  lock = await claimedLock(t, tn, br, "sim-1");
});

const actions = (lockId = lock.lockId, who = tn) => lh(who, `/locks/${lockId}/actions`);
const create = (action: "unlock" | "lock", lockId = lock.lockId, who = tn) =>
  t.call("POST", actions(lockId, who), { token: who.token, body: { action } });
const get = (id: string, lockId = lock.lockId) => t.call("GET", `${actions(lockId)}/${id}`, { token: tn.token });
const askCommand = (id: string, nonce: Uint8Array, bridge = br) =>
  t.call("POST", `/bridge/v1/actions/${id}/command`, { token: bridge.token, body: { nonce: toBase64Url(nonce) } });
const reportResult = (id: string, body: unknown, bridge = br) =>
  t.call("POST", `/bridge/v1/actions/${id}/result`, { token: bridge.token, body });

/** What the lock does with a command: verify it with its own nonce book, pinned authority and last counter. */
async function lockVerifies(command: string, nonce: Uint8Array, lastCounter = 0, lockId = lock.lockId) {
  const book = new NonceBook();
  book.issue(nonce, t.clock.now());
  return verifyRemoteCommand(fromBase64Url(command), {
    lockId,
    authority: await authorityOf(t, tn),
    nonces: book,
    nowMs: t.clock.now(),
    lastCounter,
  });
}

/** Asks for an action's command over a fresh lock nonce; answers it as the lock reads it. */
async function commandOf(
  id: string,
  nonce = nonces(16),
): Promise<{ nonce: Uint8Array; command: RemoteCommand; raw: string }> {
  const res = await askCommand(id, nonce);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const verdict = await lockVerifies(res.body.command, nonce);
  if (!verdict.ok) throw new Error(verdict.message);
  return { nonce, command: verdict.command, raw: res.body.command };
}

describe("remote actions: the integrator asks, the bridge carries, the lock's report settles", () => {
  it("an unlock goes pending → sent → succeeded, on the lock's report of the event bound to the command", async () => {
    const cursor = (await t.call("GET", "/bridge/v1/changes", { token: br.token })).body.cursor;
    const created = await create("unlock");
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    expect(id).toMatch(/^act_/);
    expect(created.body).toEqual({
      id,
      lockId: "sim-1",
      action: "unlock",
      status: "pending",
      createdAt: "2027-01-15T08:00:00.000Z",
      expiresAt: "2027-01-15T08:01:00.000Z",
    });
    // On the serving bridge's feed, exactly as the contract says.
    const feed = await t.call("GET", `/bridge/v1/changes?cursor=${cursor}`, { token: br.token });
    expect(feed.body.changes).toEqual([
      {
        seq: feed.body.changes[0].seq,
        kind: "action",
        actionId: id,
        lockId: "sim-1",
        action: "unlock",
        expiresAt: "2027-01-15T08:01:00.000Z",
      },
    ]);

    t.clock.advance(1000);
    const nonce = nonces(16);
    const answer = await askCommand(id, nonce);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body).sort()).toEqual(["actionId", "command", "lockId"]);
    expect(answer.body).toMatchObject({ actionId: id, lockId: "sim-1" });
    const verdict = await lockVerifies(answer.body.command, nonce);
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.command).toMatchObject({ lock: "sim-1", action: "unlock" });
    expect(verdict.command.nonce).toEqual(nonce);
    expect((await get(id)).body.status).toBe("sent");

    // The lock opens and reports it, the event carrying sha256 of the command's nonce.
    t.clock.advance(1000);
    await sendReports(t, br, lock, [eventReport(lock, 1, { type: "unlocked", cmd: commandResultBinding(nonce) })]);
    const done = await get(id);
    expect(done.body).toEqual({
      id,
      lockId: "sim-1",
      action: "unlock",
      status: "succeeded",
      createdAt: "2027-01-15T08:00:00.000Z",
      expiresAt: "2027-01-15T08:01:00.000Z",
      completedAt: "2027-01-15T08:00:02.000Z",
      eventId: done.body.eventId,
    });
    const events = (await t.call("GET", lh(tn, "/events"), { token: tn.token })).body.events;
    expect(events.map((e: { id: string; action: string }) => [e.id, e.action])).toEqual([
      [done.body.eventId, "unlocked"],
    ]);
    // Closed: no further command, no failure report.
    expect((await askCommand(id, nonces(16))).body.error).toBe("action_closed");
    expect((await reportResult(id, { ok: false, code: "unreachable" })).status).toBe(409);
  });

  it("lists a lock's actions oldest first, paged; a lock action reads back as its own", async () => {
    const ids = [];
    for (const action of ["unlock", "lock", "unlock"] as const) ids.push((await create(action)).body.id);
    const page1 = await t.call("GET", `${actions()}?limit=2`, { token: tn.token });
    expect(page1.status).toBe(200);
    expect(page1.body.actions.map((a: { id: string }) => a.id)).toEqual(ids.slice(0, 2));
    expect(page1.body.actions[1].action).toBe("lock");
    const page2 = await t.call("GET", `${actions()}?limit=2&startAfterId=${page1.body.startAfterId}`, {
      token: tn.token,
    });
    expect(page2.body.actions.map((a: { id: string }) => a.id)).toEqual([ids[2]]);
    expect(page2.body.startAfterId).toBeUndefined();
    expect((await t.call("GET", `${actions()}?limit=0`, { token: tn.token })).status).toBe(400);
    const bad = await t.call("POST", actions(), { token: tn.token, body: { action: "open-sesame" } });
    expect(bad.status).toBe(400);
  });

  it("counters rise strictly per lock, are stored before the answer and survive a restart and the clock going back", async () => {
    const first = await commandOf((await create("unlock")).body.id);
    const second = await commandOf((await create("lock")).body.id);
    expect(second.command.counter).toBeGreaterThan(first.command.counter);
    // Held back and played after the second, the first command is refused by the lock: it is not a later counter.
    const late = await lockVerifies(first.raw, first.nonce, second.command.counter);
    expect(late.ok || late.code).toBe("stale_counter");
    // A restart on the same database, with the clock an hour back: the next counter is still higher.
    await t.cloud.close();
    t = await startTestCloud({ dataDir: t.dir, clock: t.clock, seed: "after a restart" });
    t.clock.advance(-3_600_000);
    const after = await commandOf((await create("unlock")).body.id);
    expect(after.command.counter).toBeGreaterThan(second.command.counter);
  });
});

describe("remote actions: attacks (docs/design.md section 7: a courier may delay or drop, never open a door)", () => {
  it("an action for another holder's lock, or on a lock that does not exist, is 404 alike; a scoped token sees only its holder", async () => {
    const other = await tenant(t, "Other");
    const otherBridge = await bridgeWithConnection(t, other, "site-b", "pw-b");
    const theirs = await claimedLock(t, other, otherBridge, "sim-theirs");
    const theirAction = (await create("unlock", theirs.lockId, other)).body.id as string;
    const answers = [
      await create("unlock", theirs.lockId),
      await t.call("GET", actions(theirs.lockId), { token: tn.token }),
      await t.call("GET", `${actions(theirs.lockId)}/${theirAction}`, { token: tn.token }),
      await create("unlock", "sim-nobody"),
      await t.call("GET", actions("sim-nobody"), { token: tn.token }),
    ];
    expect(answers.map((a) => a.status)).toEqual([404, 404, 404, 404, 404]);
    expect(answers[0]!.body.errorDescription.replace(theirs.lockId, "<lock>")).toBe(
      answers[3]!.body.errorDescription.replace("sim-nobody", "<lock>"),
    );
    // My own lock, their action id: 404 as well (an action is read under its own lock only).
    expect((await get(theirAction)).status).toBe(404);
    // A token scoped to the other lock holder cannot act on mine.
    const scoped = await integratorToken(
      t,
      other.clientId,
      other.clientSecret,
      `lockHolder.admin:${other.lockHolderId}`,
    );
    const cross = await t.call("POST", actions(), { token: scoped, body: { action: "unlock" } });
    expect(cross.status).toBe(404);
    // Nothing was created on my lock or theirs by these attempts.
    expect((await t.call("GET", actions(), { token: tn.token })).body.actions).toEqual([]);
    expect((await t.call("GET", actions(theirs.lockId, other), { token: other.token })).body.actions).toHaveLength(1);
  });

  it("an unclaimed lock takes no action: 409 lock_not_claimed naming it", async () => {
    await reportFound(t, br, { id: "sim-unclaimed" });
    const res = await create("unlock", "sim-unclaimed");
    expect(res.status).toBe(409);
    expect(res.body.error).toBe("lock_not_claimed");
    expect(res.body.errorDescription).toContain('"sim-unclaimed"');
    expect((await t.call("GET", actions("sim-unclaimed"), { token: tn.token })).body.actions).toEqual([]);
  });

  it("a bridge that does not serve the lock gets 404 for its command and its result, as for no such action", async () => {
    const id = (await create("unlock")).body.id as string;
    const other = await tenant(t, "Other");
    const foreign = await bridgeWithConnection(t, other, "site-b", "pw-b");
    // A second bridge of the same lock holder, serving another connection.
    const sibling = await bridgeWithConnection(t, tn, "site-c", "pw-c");
    for (const bridge of [foreign, sibling]) {
      const command = await askCommand(id, nonces(16), bridge);
      const result = await reportResult(id, { ok: false, code: "unreachable" }, bridge);
      const nothing = await askCommand("act_does_not_exist", nonces(16), bridge);
      expect([command.status, result.status, nothing.status]).toEqual([404, 404, 404]);
      expect(command.body).toEqual(nothing.body);
    }
    expect((await get(id)).body.status).toBe("pending");
    // An integrator token is not a bridge token.
    expect(
      (await t.call("POST", `/bridge/v1/actions/${id}/command`, { token: tn.token, body: { nonce: "AA" } })).status,
    ).toBe(403);
  });

  it("one command per action: the same nonce again gets the same bytes, another nonce is 409 (no second counter)", async () => {
    const id = (await create("unlock")).body.id as string;
    const nonce = nonces(16);
    const first = await askCommand(id, nonce);
    expect(first.status).toBe(200);
    const retry = await askCommand(id, nonce);
    expect(retry.body).toEqual(first.body);
    const replay = await askCommand(id, nonces(16));
    expect(replay.status).toBe(409);
    expect(replay.body.error).toBe("command_already_issued");
    // The next action's counter is the very next one: the refused request took none.
    const next = await commandOf((await create("lock")).body.id);
    const firstCounter = await lockVerifies(first.body.command, nonce);
    if (!firstCounter.ok) throw new Error(firstCounter.message);
    expect(next.command.counter).toBe(Math.max(firstCounter.command.counter + 1, t.clock.now()));
    for (const bad of ["AAEC", "!!!!!!!!!!!!!!!!!!!!!!", `${toBase64Url(nonces(16))}A`]) {
      const res = await t.call("POST", `/bridge/v1/actions/${id}/command`, { token: br.token, body: { nonce: bad } });
      expect(res.status, bad).toBe(400);
    }
  });

  it("a bridge cannot report success (422), only failure, which is the bridge's word and does not outweigh the lock's", async () => {
    const id = (await create("unlock")).body.id as string;
    const { nonce } = await commandOf(id);
    for (const body of [{ ok: true }, { ok: true, code: "done" }]) {
      const res = await reportResult(id, body);
      expect(res.status).toBe(422);
      expect(res.body.error).toBe("success_from_lock_only");
    }
    expect((await get(id)).body.status).toBe("sent");
    expect((await reportResult(id, { ok: false })).status).toBe(400);
    const failed = await reportResult(id, { ok: false, code: "unreachable", message: "no answer from the lock" });
    expect(failed.status).toBe(204);
    expect((await get(id)).body).toMatchObject({
      status: "failed",
      completedAt: "2027-01-15T08:00:00.000Z",
      error: { code: "unreachable", message: "no answer from the lock", reportedBy: "bridge" },
    });
    expect((await askCommand(id, nonce)).body.error).toBe("action_closed");
    expect((await reportResult(id, { ok: false, code: "again" })).body.error).toBe("action_closed");
    // The bridge lied: the lock did it and says so. The lock's word wins.
    await sendReports(t, br, lock, [eventReport(lock, 1, { type: "unlocked", cmd: commandResultBinding(nonce) })]);
    const settled = (await get(id)).body;
    expect(settled.status).toBe("succeeded");
    expect(settled.eventId).toMatch(/^[0-9a-f]{32}$/);
    expect(settled.error).toBeUndefined();
  });

  it("no unrelated event succeeds an action: no cmd, another nonce's binding, the other type, another lock's word", async () => {
    const id = (await create("unlock")).body.id as string;
    const { nonce } = await commandOf(id);
    const other = await claimedLock(t, tn, br, "sim-2");
    await sendReports(t, br, lock, [
      eventReport(lock, 1, { type: "unlocked" }),
      eventReport(lock, 2, { type: "unlocked", cmd: commandResultBinding(nonces(16)) }),
      eventReport(lock, 3, { type: "locked", cmd: commandResultBinding(nonce) }),
      eventReport(lock, 4, { type: "denied", cmd: commandResultBinding(nonce) }),
    ]);
    await sendReports(t, br, other, [eventReport(other, 1, { type: "unlocked", cmd: commandResultBinding(nonce) })]);
    expect((await get(id)).body.status).toBe("sent");
    // A forged report carrying the right binding is refused, and settles nothing.
    const forger = { ...lock, key: new Uint8Array(32).fill(9) };
    const forged = await upload(t, br, [
      { lockId: lock.lockId, report: eventReport(forger, 5, { type: "unlocked", cmd: commandResultBinding(nonce) }) },
    ]);
    expect(forged.body.results[0].verdict).toBe("forged");
    expect((await get(id)).body.status).toBe("sent");
    // The lock's own report of the unlock does.
    await sendReports(t, br, lock, [eventReport(lock, 5, { type: "unlocked", cmd: commandResultBinding(nonce) })]);
    expect((await get(id)).body.status).toBe("succeeded");
  });

  it("an expired action cannot be signed nor failed; it reads expired at expiresAt; a late report of the lock still settles it", async () => {
    const id = (await create("unlock")).body.id as string;
    const sentId = (await create("lock")).body.id as string;
    const { nonce } = await commandOf(sentId);
    t.clock.advance(60_000);
    const refused = await askCommand(id, nonces(16));
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe("action_closed");
    expect(refused.body.errorDescription).toContain("expired");
    expect((await askCommand(sentId, nonce)).body.error).toBe("action_closed");
    expect((await reportResult(id, { ok: false, code: "unreachable" })).body.error).toBe("action_closed");
    for (const action of [id, sentId]) {
      expect((await get(action)).body).toMatchObject({ status: "expired", completedAt: "2027-01-15T08:01:00.000Z" });
    }
    // The maintenance worker writes what reads already show.
    const written = await t.cloud.store.transaction((tx) => tx.remoteActions.expireDue(t.clock.now()));
    expect(written).toBe(2);
    expect((await get(id)).body.status).toBe("expired");
    // The lock did lock in time; its report arrives late (a courier held it): the door did it, the action says so.
    await sendReports(t, br, lock, [eventReport(lock, 1, { type: "locked", cmd: commandResultBinding(nonce) })]);
    expect((await get(sentId)).body.status).toBe("succeeded");
    expect((await get(id)).body.status).toBe("expired");
  });
});

describe("remote actions on a virtual lock (the cloud is the lock)", () => {
  it("runs at once through the same signed command: succeeded, with its event and a higher counter each time", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    const lockId = lockIds[0]!;
    const unlocked = await create("unlock", lockId);
    expect(unlocked.status).toBe(202);
    expect(unlocked.body).toMatchObject({ lockId, action: "unlock", status: "succeeded" });
    expect(unlocked.body.completedAt).toBe(unlocked.body.createdAt);
    const locked = await create("lock", lockId);
    expect(locked.body.status).toBe("succeeded");
    const events = (await t.call("GET", lh(tn, "/events"), { token: tn.token })).body.events;
    expect(events.map((e: { id: string; action: string; lockId: string }) => [e.id, e.action, e.lockId])).toEqual([
      [locked.body.eventId, "locked", lockId],
      [unlocked.body.eventId, "unlocked", lockId],
    ]);
    // What it signed verifies as any lock would verify it, with counters rising.
    const stored = await t.cloud.store.transaction(async (tx) => [
      await tx.remoteActions.get(unlocked.body.id),
      await tx.remoteActions.get(locked.body.id),
    ]);
    const [a, b] = stored.map((r) => r!);
    expect(b!.counter!).toBeGreaterThan(a!.counter!);
    const verdict = await lockVerifies(
      toBase64Url(Buffer.from(b!.command!, "hex")),
      Buffer.from(b!.nonce!, "hex"),
      a!.counter!,
      lockId,
    );
    expect(verdict.ok).toBe(true);
    // No bridge feed for a virtual lock's action.
    const feed = (await t.call("GET", "/bridge/v1/changes", { token: br.token })).body.changes;
    expect(feed.filter((c: { kind: string }) => c.kind === "action")).toEqual([]);
  });
});
