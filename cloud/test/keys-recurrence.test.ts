import { decodeSign1, fromBase64Url, SCHEDULE_HEADER_LABEL } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { prefetchedToken, registerPhone, unlockVirtual } from "./app.js";
import { bridgeWithConnection, lh, type Tenant, type TestCloud, tenantSiteEach, virtualLocks } from "./helpers.js";
import { claimedLock } from "./lock.js";

/**
 * Recurring keys (issue 14): Unloc's per-weekday recurrence, in the lock's timezone, minted into the key token as its
 * schedule and enforced by the lock offline (docs/design.md section 2 "Schedule"). The cloud's virtual locks make the
 * same decision a lock does, in the lock's timezone, so a manual clock walks a cleaner's Sunday key across days and
 * the spring DST change of 2027 in Oslo (28 March, 01:00 UTC).
 */
let t: TestCloud;
let tn: Tenant;
let lockId: string;

tenantSiteEach({}, async (s) => {
  ({ t, tn } = s);
  lockId = (await virtualLocks(t, tn, 1)).lockIds[0]!;
});

const SUNDAY_8_TO_9 = { sunday: [{ startHour: 8, startMinute: 0, endHour: 9, endMinute: 0 }] };

const createKey = (body: Record<string, unknown>) =>
  t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId: "+4791234567", ...body } });
const setTimezone = (timezone: string | null) =>
  t.call("PATCH", lh(tn, `/locks/${lockId}`), { token: tn.token, body: { timezone } });

/**
 * At `iso`, the phone signs in (its access token would not last the weeks the clock skips), prefetches (tokens are
 * minted at the clock's now) and tries the lock.
 */
async function tryAt(keyId: string, iso: string) {
  t.clock.set(Date.parse(iso));
  const phone = await registerPhone(t, "+4791234567");
  const token = await prefetchedToken(t, phone, keyId);
  const answer = await unlockVirtual(t, phone, lockId, token);
  return answer.status === 200 ? answer.body.result : answer.body.error;
}

describe("recurring keys", () => {
  it("need a lock with a real timezone: none is 422 lock_timezone_required, an unknown zone is 400", async () => {
    const none = await createKey({ recurrence: SUNDAY_8_TO_9 });
    expect(none.status).toBe(422);
    expect(none.body.error).toBe("lock_timezone_required");
    const mars = await setTimezone("Mars/Olympus");
    expect(mars.status).toBe(400);
    expect(mars.body.errorDescription).toMatch(/body\.timezone: "Mars\/Olympus" is not an IANA timezone/);
    expect((await setTimezone("Europe/Oslo")).status).toBe(200);
    expect((await createKey({ recurrence: SUNDAY_8_TO_9 })).status).toBe(201);
    // A batch item is checked the same way, its field named.
    expect((await setTimezone(null)).status).toBe(200);
    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId, userId: "+4791234567", recurrence: SUNDAY_8_TO_9 }] },
    });
    expect(batch.status).toBe(422);
    expect(batch.body.errorDescription).toMatch(/has no timezone/);
  });

  it("refuse windows a lock could not keep, naming the field", async () => {
    await setTimezone("Europe/Oslo");
    const cases: [unknown, RegExp][] = [
      [{}, /recurrence/],
      [{ funday: [{ startHour: 8, startMinute: 0, endHour: 9, endMinute: 0 }] }, /funday|additional/i],
      [{ monday: [{ startHour: 8, startMinute: 0, endHour: 24, endMinute: 30 }] }, /endHour 24 takes endMinute 0/],
      [{ monday: [{ startHour: 25, startMinute: 0, endHour: 9, endMinute: 0 }] }, /startHour/],
      [{ monday: Array(5).fill({ startHour: 8, startMinute: 0, endHour: 9, endMinute: 0 }) }, /monday/],
    ];
    for (const [recurrence, message] of cases) {
      const answer = await createKey({ recurrence });
      expect(answer.status, JSON.stringify(recurrence)).toBe(400);
      expect(JSON.stringify(answer.body)).toMatch(message);
    }
  });

  it("are answered as created, carried in the token as its critical schedule, and opened only in their window across days and DST", async () => {
    await setTimezone("Europe/Oslo");
    // A night shift runs past midnight: Saturday 22:00 to Sunday 02:00 is two windows in the token.
    const recurrence = { ...SUNDAY_8_TO_9, saturday: [{ startHour: 22, startMinute: 0, endHour: 2, endMinute: 0 }] };
    const key = await createKey({ recurrence, end: "2027-06-01T00:00:00Z" });
    expect(key.status).toBe(201);
    expect(key.body.recurrence).toEqual(recurrence);
    expect((await t.call("GET", lh(tn, `/keys/${key.body.id}`), { token: tn.token })).body.recurrence).toEqual(
      recurrence,
    );
    const plain = await createKey({ end: "2027-06-01T00:00:00Z" });
    expect(plain.body.recurrence).toBeNull();

    const phone = await registerPhone(t, "+4791234567");
    const { keys } = (await t.call("GET", "/app/v1/keys", { token: phone.token })).body;
    const token = keys.find((k: { keyId: string }) => k.keyId === key.body.id).token as string;
    const header = decodeSign1(fromBase64Url(token)).protectedHeader as Map<number, unknown>;
    expect(header.get(2)).toEqual([SCHEDULE_HEADER_LABEL]);
    expect(header.get(SCHEDULE_HEADER_LABEL)).toEqual([
      [6, 1320, 1440],
      [7, 0, 120],
      [7, 480, 540],
    ]);

    // Sunday 21 March 2027, CET (UTC+1): 08:30 local is 07:30 UTC.
    expect(await tryAt(key.body.id, "2027-03-21T07:30:00Z")).toBe("unlocked");
    expect(await tryAt(key.body.id, "2027-03-21T08:30:00Z")).toBe("outside_schedule"); // 09:30 local
    expect(await tryAt(key.body.id, "2027-03-22T07:30:00Z")).toBe("outside_schedule"); // a Monday
    // Sunday 28 March, after the change to CEST (UTC+2): the same 08:30 local is 06:30 UTC now.
    expect(await tryAt(key.body.id, "2027-03-28T06:30:00Z")).toBe("unlocked");
    expect(await tryAt(key.body.id, "2027-03-28T07:30:00Z")).toBe("outside_schedule"); // 09:30 local
    // The night shift: Saturday 23:30 and Sunday 01:30 local open, Sunday 03:00 does not.
    expect(await tryAt(key.body.id, "2027-04-03T21:30:00Z")).toBe("unlocked");
    expect(await tryAt(key.body.id, "2027-04-03T23:30:00Z")).toBe("unlocked");
    expect(await tryAt(key.body.id, "2027-04-04T01:00:00Z")).toBe("outside_schedule");
    // A key with no recurrence opens at any hour.
    expect(await tryAt(plain.body.id, "2027-04-04T01:00:00Z")).toBe("unlocked");
  });

  it("a lock's new timezone (or maxStale) goes on its bridge's feed, so the lock gets the state that carries it now", async () => {
    const br = await bridgeWithConnection(t, tn);
    const lock = await claimedLock(t, tn, br, "sim-tz");
    const cursor = (await t.call("GET", "/bridge/v1/changes", { token: br.token })).body.cursor;
    const patch = (body: Record<string, unknown>) =>
      t.call("PATCH", lh(tn, `/locks/${lock.lockId}`), { token: tn.token, body });
    expect((await patch({ name: "Front door" })).status).toBe(200);
    const quiet = await t.call("GET", `/bridge/v1/changes?cursor=${cursor}&wait=0`, { token: br.token });
    expect(quiet.body.changes).toEqual([]); // a name is not in the signed state
    expect((await patch({ timezone: "Europe/Oslo" })).status).toBe(200);
    const feed = await t.call("GET", `/bridge/v1/changes?cursor=${cursor}&wait=0`, { token: br.token });
    expect(feed.body.changes.map((c: { kind: string; lockId?: string }) => [c.kind, c.lockId])).toEqual([
      ["lock", lock.lockId],
    ]);
    // The state the bridge fetches now names the zone the lock reads recurring keys in.
    const state = await t.call("GET", `/bridge/v1/locks/${lock.lockId}/state`, { token: br.token });
    expect(state.status, JSON.stringify(state.body)).toBe(200);
    expect(Buffer.from(fromBase64Url(state.body.state)).includes("Europe/Oslo")).toBe(true);
  });
});
