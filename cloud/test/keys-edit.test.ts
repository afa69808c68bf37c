import {
  ClaimLabel,
  decodeSign1,
  decodeStrict,
  fromBase64Url,
  SCHEDULE_HEADER_LABEL,
  toHex,
  verifyLockState,
} from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { prefetchedToken, registerPhone, unlockVirtual } from "./app.js";
import { bridgeWithConnection, lh, tenant, virtualSiteEach } from "./helpers.js";
import { claimedLock, fetchState } from "./lock.js";

/**
 * Editing a key (issue 14, docs/design.md section 4 "Editing a key"): the key keeps its id and cti; an edit that
 * narrows it revokes the tokens minted before it at the lock (`{cti, before}` in the signed state), and the holder's
 * next prefetch brings a token with the new terms that opens.
 */
const site = virtualSiteEach();

const HOLDER = "+4791234567";
const createKey = (body: Record<string, unknown>, lock = site.lockId) =>
  site.t.call("POST", lh(site.tn, "/keys"), { token: site.tn.token, body: { lockId: lock, userId: HOLDER, ...body } });
const editKey = (keyId: string, body: unknown) =>
  site.t.call("PATCH", lh(site.tn, `/keys/${keyId}`), { token: site.tn.token, body });
const isoIn = (ms: number) => new Date(site.t.clock.now() + ms).toISOString();

function claimsOf(token: string): Map<number, unknown> {
  return decodeStrict(decodeSign1(fromBase64Url(token)).payload) as Map<number, unknown>;
}

describe("editing a key", () => {
  it("says when it was last edited: null until a PATCH, then the edit's second, in every answer; a revoke is no edit", async () => {
    const key = await createKey({ durationMinutes: 600, metadata: { unit: "1A" } });
    expect(key.body.edited).toBeNull();
    site.t.clock.set(site.t.clock.now() + 61_500);
    const editedAt = new Date(Math.floor(site.t.clock.now() / 1000) * 1000).toISOString();
    const first = await editKey(key.body.id, { metadata: { unit: "1B" } });
    expect(first.body.edited).toBe(editedAt);
    site.t.clock.set(site.t.clock.now() + 3_000);
    const later = new Date(Math.floor(site.t.clock.now() / 1000) * 1000).toISOString();
    expect((await editKey(key.body.id, { end: isoIn(3_600_000) })).body.edited).toBe(later);
    const read = await site.t.call("GET", lh(site.tn, `/keys/${key.body.id}`), { token: site.tn.token });
    expect(read.body.edited).toBe(later);
    const listed = await site.t.call("GET", lh(site.tn, "/keys"), { token: site.tn.token });
    expect(listed.body.keys.find((k: { id: string }) => k.id === key.body.id).edited).toBe(later);
    site.t.clock.set(site.t.clock.now() + 3_000);
    const revoked = await site.t.call("PUT", lh(site.tn, `/keys/${key.body.id}`), {
      token: site.tn.token,
      body: { state: "revoked" },
    });
    expect(revoked.body).toMatchObject({ state: "revoked", edited: later });
  });

  it("ends it earlier: answered and read back, re-minted with the new exp, the old token refused at the lock", async () => {
    const key = await createKey({ durationMinutes: 600 });
    expect(key.status).toBe(201);
    const phone = await registerPhone(site.t, HOLDER);
    const old = await prefetchedToken(site.t, phone, key.body.id);
    expect(await unlockVirtual(site.t, phone, site.lockId, old)).toMatchObject({ status: 200 });

    site.t.clock.set(site.t.clock.now() + 5_000);
    const end = isoIn(3_600_000);
    const edited = await editKey(key.body.id, { end });
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    expect(edited.body).toMatchObject({ id: key.body.id, state: "active", start: key.body.start });
    expect(Date.parse(edited.body.end)).toBe(Math.ceil(Date.parse(end) / 1000) * 1000);
    const read = await site.t.call("GET", lh(site.tn, `/keys/${key.body.id}`), { token: site.tn.token });
    expect(read.body).toEqual(edited.body);

    const editedAtS = Math.floor(site.t.clock.now() / 1000);
    const fresh = await prefetchedToken(site.t, phone, key.body.id);
    const claims = claimsOf(fresh);
    expect(claims.get(ClaimLabel.exp)).toBe(Date.parse(edited.body.end) / 1000);
    expect(claims.get(ClaimLabel.iat) as number).toBeGreaterThanOrEqual(editedAtS);
    // The same key: the same cti in both tokens.
    expect(toHex(claims.get(ClaimLabel.cti) as Uint8Array)).toBe(
      toHex(claimsOf(old).get(ClaimLabel.cti) as Uint8Array),
    );
    const refused = await unlockVirtual(site.t, phone, site.lockId, old);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe("revoked");
    expect((await unlockVirtual(site.t, phone, site.lockId, fresh)).body.result).toBe("unlocked");
  });

  it("puts {cti, before} in the lock's signed state and the key on the bridge's feed; metadata alone does neither", async () => {
    const br = await bridgeWithConnection(site.t, site.tn);
    const lock = await claimedLock(site.t, site.tn, br, "lk-edit");
    const narrowed = await createKey({ durationMinutes: 600 }, lock.lockId);
    const renamed = await createKey({ durationMinutes: 600 }, lock.lockId);
    const phone = await registerPhone(site.t, HOLDER);
    await prefetchedToken(site.t, phone, narrowed.body.id);
    const cursor = (await site.t.call("GET", "/bridge/v1/changes", { token: br.token })).body.cursor;

    site.t.clock.set(site.t.clock.now() + 5_000);
    const quiet = await editKey(renamed.body.id, { metadata: { unit: "3A" }, userName: "Kari Nordmann" });
    expect(quiet.status).toBe(200);
    expect(quiet.body).toMatchObject({ metadata: { unit: "3A" }, userName: "Kari Nordmann", end: renamed.body.end });
    const none = await site.t.call("GET", `/bridge/v1/changes?cursor=${cursor}&wait=0`, { token: br.token });
    expect(none.body.changes).toEqual([]);
    const before = verifyLockState((await fetchState(site.t, br, lock.lockId)).bytes, {
      lockId: lock.lockId,
      claimSecret: lock.claimSecret,
    });
    if (!before.ok) throw new Error(before.message);
    expect(before.state.revoked).toEqual([]);

    const editedAtS = Math.floor(site.t.clock.now() / 1000);
    expect((await editKey(narrowed.body.id, { end: isoIn(3_600_000) })).status).toBe(200);
    const feed = await site.t.call("GET", `/bridge/v1/changes?cursor=${cursor}&wait=0`, { token: br.token });
    expect(feed.body.changes.map((c: { kind: string; keyId?: string }) => [c.kind, c.keyId])).toEqual([
      ["key", narrowed.body.id],
    ]);
    const after = verifyLockState((await fetchState(site.t, br, lock.lockId)).bytes, {
      lockId: lock.lockId,
      claimSecret: lock.claimSecret,
    });
    if (!after.ok) throw new Error(after.message);
    const token = await prefetchedToken(site.t, phone, narrowed.body.id);
    const cti = toHex(claimsOf(token).get(ClaimLabel.cti) as Uint8Array);
    expect(after.state.revoked.map((r) => ({ cti: toHex(r.cti), before: r.before }))).toEqual([
      { cti, before: editedAtS + 1 },
    ]);
  });

  it("keeps the {cti, before} entry only while a token minted before the edit may still open", async () => {
    const br = await bridgeWithConnection(site.t, site.tn);
    const lock = await claimedLock(site.t, site.tn, br, "lk-edit-until");
    const DAY = 86_400_000;
    const key = await createKey({ durationMinutes: 60 * 24 * 90 }, lock.lockId);
    const old = await prefetchedToken(site.t, await registerPhone(site.t, HOLDER), key.body.id);
    const oldExpS = claimsOf(old).get(ClaimLabel.exp) as number;
    site.t.clock.set(site.t.clock.now() + 5_000);
    expect((await editKey(key.body.id, { end: isoIn(80 * DAY) })).status).toBe(200);
    const entries = async () => {
      const verdict = verifyLockState((await fetchState(site.t, br, lock.lockId)).bytes, {
        lockId: lock.lockId,
        claimSecret: lock.claimSecret,
      });
      if (!verdict.ok) throw new Error(verdict.message);
      return verdict.state.revoked.length;
    };
    expect(await entries()).toBe(1);
    // Past the old token's exp (and the leeway), new tokens still being minted do not keep the entry.
    site.t.clock.set(oldExpS * 1000 + DAY);
    await prefetchedToken(site.t, await registerPhone(site.t, HOLDER), key.body.id);
    expect(await entries()).toBe(0);
  });

  it("a new recurrence narrows: the old token is refused, the re-minted one carries the schedule", async () => {
    await site.t.call("PATCH", lh(site.tn, `/locks/${site.lockId}`), {
      token: site.tn.token,
      body: { timezone: "UTC" },
    });
    const key = await createKey({ durationMinutes: 600 });
    const phone = await registerPhone(site.t, HOLDER);
    const old = await prefetchedToken(site.t, phone, key.body.id);
    site.t.clock.set(site.t.clock.now() + 5_000);
    const always = { startHour: 0, startMinute: 0, endHour: 24, endMinute: 0 };
    const recurrence = Object.fromEntries(
      ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].map((d) => [d, [always]]),
    );
    const edited = await editKey(key.body.id, { recurrence });
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    expect(edited.body.recurrence).toEqual(recurrence);
    expect((await unlockVirtual(site.t, phone, site.lockId, old)).body.error).toBe("revoked");
    const fresh = await prefetchedToken(site.t, phone, key.body.id);
    expect(decodeSign1(fromBase64Url(fresh)).protectedHeader.get(2)).toEqual([SCHEDULE_HEADER_LABEL]);
    expect((await unlockVirtual(site.t, phone, site.lockId, fresh)).body.result).toBe("unlocked");
  });

  it("refuses a token minted in the edit's own second, before it, and opens with one minted after it", async () => {
    site.t.clock.set(Math.floor(site.t.clock.now() / 1000) * 1000 + 100);
    const key = await createKey({ durationMinutes: 600 });
    const phone = await registerPhone(site.t, HOLDER);
    site.t.clock.set(Math.floor(site.t.clock.now() / 1000) * 1000 + 200);
    const old = await prefetchedToken(site.t, phone, key.body.id);
    site.t.clock.set(site.t.clock.now() + 300); // the same second
    expect((await editKey(key.body.id, { end: isoIn(3_600_000) })).status).toBe(200);
    const fresh = await prefetchedToken(site.t, phone, key.body.id);
    expect(claimsOf(fresh).get(ClaimLabel.iat)).toBe((claimsOf(old).get(ClaimLabel.iat) as number) + 1);
    expect((await unlockVirtual(site.t, phone, site.lockId, old)).body.error).toBe("revoked");
    expect((await unlockVirtual(site.t, phone, site.lockId, fresh)).body.result).toBe("unlocked");
  });

  it("widening (a later end) revokes nothing: every token already out stays within the new terms", async () => {
    const key = await createKey({ durationMinutes: 60 });
    const phone = await registerPhone(site.t, HOLDER);
    const old = await prefetchedToken(site.t, phone, key.body.id);
    site.t.clock.set(site.t.clock.now() + 5_000);
    expect((await editKey(key.body.id, { durationMinutes: 120 })).status).toBe(200);
    expect((await unlockVirtual(site.t, phone, site.lockId, old)).body.result).toBe("unlocked");
  });

  it("answers 409 for a revoked or expired key, 404 for an unknown key or another lock holder's", async () => {
    const revoked = await createKey({});
    await site.t.call("PUT", lh(site.tn, `/keys/${revoked.body.id}`), {
      token: site.tn.token,
      body: { state: "revoked" },
    });
    const conflict = await editKey(revoked.body.id, { metadata: { a: 1 } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toBe("key_not_editable");
    expect(conflict.body.errorDescription).toMatch(/is revoked/);

    const short = await createKey({ durationMinutes: 1 });
    site.t.clock.set(site.t.clock.now() + 120_000);
    const expired = await editKey(short.body.id, { durationMinutes: 60 });
    expect(expired.status).toBe(409);
    expect(expired.body.errorDescription).toMatch(/is expired/);

    const live = await createKey({ durationMinutes: 60 });
    expect((await editKey("key_doesnotexist", { metadata: { a: 1 } })).status).toBe(404);
    const other = await tenant(site.t, "Other");
    const cross = await site.t.call(
      "PATCH",
      `/integrators/v1/lock-holders/${other.lockHolderId}/keys/${live.body.id}`,
      {
        token: other.token,
        body: { end: null },
      },
    );
    expect(cross.status).toBe(404);
    const intoOurs = await site.t.call("PATCH", lh(site.tn, `/keys/${live.body.id}`), {
      token: other.token,
      body: { end: null },
    });
    expect([403, 404]).toContain(intoOurs.status);
    expect((await site.t.call("GET", lh(site.tn, `/keys/${live.body.id}`), { token: site.tn.token })).body).toEqual(
      live.body,
    );
  });

  it("refuses bad bodies with 400 naming the field, as creation does", async () => {
    const key = await createKey({ durationMinutes: 60 });
    const cases: [unknown, RegExp][] = [
      [{}, /body/],
      [{ end: isoIn(3_600_000), durationMinutes: 5 }, /end or durationMinutes/],
      [{ end: isoIn(-60_000) }, /body: end must be after start/],
      [{ start: isoIn(7_200_000) }, /end must be after start/],
      [{ start: "tomorrow" }, /start/],
      [{ userId: "+4798765432" }, /userId|additional/i],
      [{ durationMinutes: 0 }, /durationMinutes/],
      [{ metadata: { blob: "x".repeat(5000) } }, /body\.metadata/],
    ];
    for (const [body, message] of cases) {
      const answer = await editKey(key.body.id, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(answer.body), JSON.stringify(body)).toMatch(message);
    }
    // A recurrence is checked against the lock as at creation: it needs the lock's timezone.
    const noZone = await editKey(key.body.id, {
      recurrence: { monday: [{ startHour: 8, startMinute: 0, endHour: 9, endMinute: 0 }] },
    });
    expect(noZone.status).toBe(422);
    expect(noZone.body.error).toBe("lock_timezone_required");
    const unchanged = await site.t.call("GET", lh(site.tn, `/keys/${key.body.id}`), { token: site.tn.token });
    expect(unchanged.body).toEqual(key.body);
  });
});
