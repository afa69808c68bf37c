import { describe, expect, it } from "vitest";
import { type Phone, registerPhone, unlockVirtual } from "./app.js";
import {
  lh,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  tenantSiteEach,
  until,
  virtualLocks,
} from "./helpers.js";
import { receiversEach } from "./receiver.js";

/** Issue 14: event filters and views, key list filters, and the key holder's name on keys and events. */

let t: TestCloud;
let tn: Tenant;

tenantSiteEach({}, (s) => {
  ({ t, tn } = s);
});

const KARI = "+4791234567";
const OLA = "+4798765432";
const ids = (answer: { body: { events?: { id: string }[]; keys?: { id: string }[] } }) =>
  (answer.body.events ?? answer.body.keys ?? []).map((x) => x.id);

/** Each phone's prefetched token per key id. */
async function tokens(phone: Phone): Promise<Map<string, string>> {
  const prefetched = await t.call("GET", "/app/v1/keys", { token: phone.token });
  return new Map(prefetched.body.keys.map((k: { keyId: string; token: string }) => [k.keyId, k.token]));
}

/**
 * Two virtual locks, three keys, four real events a minute apart (e1 oldest):
 * e1 Kari opens A with key1 ("Kari Nordmann"); e2 Ola opens A with key3 ("Ola"); e3 Kari tries key1 on B: denied
 * (wrong_lock); e4 Kari opens B with key2 (no name).
 */
async function fourEvents() {
  const { lockIds } = await virtualLocks(t, tn, 2);
  const [A, B] = lockIds as [string, string];
  const create = async (lockId: string, userId: string, userName?: string) => {
    const res = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId, userId, ...(userName ? { userName } : {}) },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const key1 = await create(A, KARI, "Kari Nordmann");
  const key2 = await create(B, "912 34 567");
  const key3 = await create(A, OLA, "Ola");
  const kari = await registerPhone(t, KARI);
  const ola = await registerPhone(t, OLA);
  const kariTokens = await tokens(kari);
  const olaTokens = await tokens(ola);
  const t0 = t.clock.now();
  const e1 = await unlockVirtual(t, kari, A, kariTokens.get(key1.id)!);
  t.clock.advance(60_000);
  const e2 = await unlockVirtual(t, ola, A, olaTokens.get(key3.id)!);
  t.clock.advance(60_000);
  const e3 = await unlockVirtual(t, kari, B, kariTokens.get(key1.id)!);
  expect(e3.status).toBe(403);
  const e3Id = (await t.call("GET", lh(tn, "/events?limit=1"), { token: tn.token })).body.events[0].id;
  t.clock.advance(60_000);
  const e4 = await unlockVirtual(t, kari, B, kariTokens.get(key2.id)!);
  for (const e of [e1, e2, e4]) expect(e.status, JSON.stringify(e.body)).toBe(200);
  return {
    A,
    B,
    key1,
    key2,
    key3,
    t0,
    e: [e1.body.eventId as string, e2.body.eventId as string, e3Id as string, e4.body.eventId as string] as const,
  };
}

const at = (ms: number) => new Date(ms).toISOString();

describe("key events: filters", () => {
  it("lockId, keyId, userId, action, from and to each narrow the list, and combine", async () => {
    const { A, B, key1, t0, e } = await fourEvents();
    const [e1, e2, e3, e4] = e;
    const events = (query = "") => t.call("GET", lh(tn, `/events${query}`), { token: tn.token });

    const all = await events();
    expect(ids(all)).toEqual([e4, e3, e2, e1]);
    // The key holder's name given at creation, instead of null; a key without one stays null.
    expect(all.body.events.map((x: { userName: string | null }) => x.userName)).toEqual([
      null,
      "Kari Nordmann",
      "Ola",
      "Kari Nordmann",
    ]);
    expect(all.body.events[1]).toMatchObject({ action: "denied", code: "wrong_lock", keyId: key1.id, lockId: B });

    expect(ids(await events(`?lockId=${A}`))).toEqual([e2, e1]);
    expect(ids(await events(`?lockId=${B}`))).toEqual([e4, e3]);
    expect(ids(await events(`?keyId=${key1.id}`))).toEqual([e3, e1]);
    expect(ids(await events(`?userId=${encodeURIComponent(KARI)}`))).toEqual([e4, e3, e1]);
    // National numbers read in the lock holder's country, as on key creation.
    expect(ids(await events("?userId=98765432"))).toEqual([e2]);
    expect(ids(await events("?action=denied"))).toEqual([e3]);
    expect(ids(await events("?action=unlocked"))).toEqual([e4, e2, e1]);
    expect(ids(await events("?action=jammed"))).toEqual([]);
    // from is included and to is not; a fraction of a second rounds to the seconds events carry.
    expect(ids(await events(`?from=${at(t0 + 60_000)}`))).toEqual([e4, e3, e2]);
    expect(ids(await events(`?to=${at(t0 + 60_000)}`))).toEqual([e1]);
    expect(ids(await events(`?from=${at(t0 + 500)}`))).toEqual([e4, e3, e2]);
    expect(ids(await events(`?to=${at(t0 + 60_500)}`))).toEqual([e2, e1]);
    expect(ids(await events(`?from=${at(t0 + 60_000)}&to=${at(t0 + 180_000)}`))).toEqual([e3, e2]);
    expect(ids(await events(`?from=${encodeURIComponent("2027-01-15T09:01:00+01:00")}`))).toEqual([e4, e3, e2]);
    expect(ids(await events(`?lockId=${A}&action=unlocked&userId=${encodeURIComponent(KARI)}`))).toEqual([e1]);
    expect(ids(await events(`?lockId=nope`))).toEqual([]);
    // The 30-day window still bounds a from that reaches further back.
    t.clock.advance(31 * 86_400_000);
    expect(ids(await events(`?from=${at(t0 - 86_400_000)}`))).toEqual([]);
  });

  it("pages a filtered list with limit and startAfterId as before", async () => {
    const { e } = await fourEvents();
    const [e1, , e3, e4] = e;
    const page = (after?: string) =>
      t.call(
        "GET",
        lh(tn, `/events?userId=${encodeURIComponent(KARI)}&limit=1${after ? `&startAfterId=${after}` : ""}`),
        {
          token: tn.token,
        },
      );
    const first = await page();
    expect([ids(first), first.body.startAfterId]).toEqual([[e4], e4]);
    const second = await page(first.body.startAfterId);
    expect([ids(second), second.body.startAfterId]).toEqual([[e3], e3]);
    const third = await page(second.body.startAfterId);
    expect(ids(third)).toEqual([e1]);
    expect(third.body.startAfterId).toBeUndefined();
  });

  it("a bad value is a 400 naming the parameter", async () => {
    const cases: [string, string][] = [
      ["action=opened", 'query.action: must be "unlocked", or "denied", or "locked", or "jammed"'],
      ["from=yesterday", "query.from: must be an RFC 3339 date-time with offset"],
      ["to=2027-02-30T00:00:00Z", "query.to: must be an RFC 3339 date-time with offset"],
      ["userId=not-a-number", 'query.userId: "not-a-number" is not a valid phone number'],
      ["from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z", "query.from: 2027-01-02T00:00:00Z is after query.to"],
      ["lockId=", "query.lockId"],
      [`keyId=${"k".repeat(129)}`, "query.keyId"],
      ["state=active", "query.state: Unexpected property"],
    ];
    for (const [query, says] of cases) {
      const res = await t.call("GET", lh(tn, `/events?${query}`), { token: tn.token });
      expect(res.status, query).toBe(400);
      expect(res.body.error).toBe("invalid_request");
      expect(res.body.errorDescription, query).toContain(says);
    }
  });
});

describe("key events: per lock and per key", () => {
  it("GET …/locks/{lockId}/events and …/keys/{keyId}/events, with the same filters; 404 for what is not yours", async () => {
    const { A, B, key1, key2, e } = await fourEvents();
    const [e1, e2, e3, e4] = e;
    const get = (path: string, token = tn.token) => t.call("GET", lh(tn, path), { token });
    expect(ids(await get(`/locks/${A}/events`))).toEqual([e2, e1]);
    expect(ids(await get(`/locks/${A}/events?userId=${encodeURIComponent(KARI)}`))).toEqual([e1]);
    expect(ids(await get(`/locks/${B}/events?action=denied`))).toEqual([e3]);
    expect(ids(await get(`/keys/${key1.id}/events`))).toEqual([e3, e1]);
    expect(ids(await get(`/keys/${key1.id}/events?action=unlocked`))).toEqual([e1]);
    expect(ids(await get(`/keys/${key2.id}/events`))).toEqual([e4]);
    const paged = await get(`/keys/${key1.id}/events?limit=1`);
    expect(ids(paged)).toEqual([e3]);
    expect(ids(await get(`/keys/${key1.id}/events?limit=1&startAfterId=${paged.body.startAfterId}`))).toEqual([e1]);
    // The path fixes the lock or key: filtering it again is not a parameter there.
    expect((await get(`/locks/${A}/events?lockId=${B}`)).status).toBe(400);
    expect((await get(`/keys/${key1.id}/events?userId=${encodeURIComponent(OLA)}`)).status).toBe(400);

    expect((await get("/locks/nope/events")).status).toBe(404);
    expect((await get("/keys/key_nope/events")).status).toBe(404);
    const other = await tenant(t, "Other");
    const otherPath = (path: string) =>
      t.call("GET", `/integrators/v1/lock-holders/${other.lockHolderId}${path}`, { token: other.token });
    expect((await otherPath(`/locks/${A}/events`)).status).toBe(404);
    expect((await otherPath(`/keys/${key1.id}/events`)).status).toBe(404);
    expect(ids(await otherPath(`/events?lockId=${A}`))).toEqual([]);
    expect((await get(`/locks/${A}/events`, other.token)).status).toBe(404);
  });
});

describe("userName", () => {
  const receiver = receiversEach();

  it("key creation takes it (single and batch, 1 to 100 characters); keys show it; webhooks carry it", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    const lockId = lockIds[0]!;
    const { got, url } = await receiver();
    // Unlock attempts only: the deliveries this test reads (key.created carries the name too, as the key shows it).
    expect(
      (await t.call("POST", lh(tn, "/webhooks"), { token: tn.token, body: { url, eventTypes: ["key_event.created"] } }))
        .status,
    ).toBe(201);

    const key = await t.call("POST", lh(tn, `/locks/${lockId}/keys`), {
      token: tn.token,
      body: { userId: KARI, userName: "Kari Nordmann" },
    });
    expect(key.status).toBe(201);
    expect(key.body).toMatchObject({ toUser: { id: KARI, name: "Kari Nordmann" }, userName: "Kari Nordmann" });
    const plain = await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId: OLA } });
    expect(plain.body.toUser).toEqual({ id: OLA });
    expect(plain.body.userName).toBeNull();
    expect((await t.call("GET", lh(tn, `/keys/${key.body.id}`), { token: tn.token })).body.userName).toBe(
      "Kari Nordmann",
    );

    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId, userId: "+4790000001", userName: "Åse Ødegård" }] },
    });
    expect(batch.status).toBe(202);
    const job = await until("the batch", async () => {
      const j = await t.call("GET", `/integrators/v1/jobs/${batch.body.jobId}`, { token: tn.token });
      return j.body.status === "succeeded" && j.body;
    });
    const batchKey = await t.call("GET", lh(tn, `/keys/${job.results[0].keyId}`), { token: tn.token });
    expect(batchKey.body.userName).toBe("Åse Ødegård");

    for (const userName of ["", "x".repeat(101)]) {
      const res = await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId: KARI, userName } });
      expect(res.status).toBe(400);
      expect(res.body.errorDescription).toContain("body.userName");
    }
    const badBatch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId, userId: KARI, userName: "" }] },
    });
    expect(badBatch.status).toBe(400);
    expect(badBatch.body.errorDescription).toContain("body.keys.0.userName");

    const phone = await registerPhone(t, KARI);
    const unlocked = await unlockVirtual(t, phone, lockId, (await tokens(phone)).get(key.body.id)!);
    expect(unlocked.status).toBe(200);
    await until("the delivery", () => got.length === 1);
    expect(JSON.parse(got[0]!.body).data).toMatchObject({ id: unlocked.body.eventId, userName: "Kari Nordmann" });
  });
});

describe("key list filters", () => {
  it("lockId, userId and state (each state as keys show it now), combined and paged", async () => {
    const { lockIds } = await virtualLocks(t, tn, 2);
    const [A, B] = lockIds as [string, string];
    const now = t.clock.now();
    const create = async (body: Record<string, unknown>) => {
      const res = await t.call("POST", lh(tn, "/keys"), { token: tn.token, body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
    const active = await create({ lockId: A, userId: KARI });
    const scheduled = await create({ lockId: A, userId: OLA, start: at(now + 86_400_000) });
    const expiring = await create({ lockId: B, userId: KARI, end: at(now + 60_000) });
    const revoked = await create({ lockId: B, userId: OLA });
    expect(
      (await t.call("PUT", lh(tn, `/keys/${revoked}`), { token: tn.token, body: { state: "revoked" } })).status,
    ).toBe(200);
    t.clock.advance(60_000);
    const keys = (query: string) => t.call("GET", lh(tn, `/keys?${query}`), { token: tn.token });

    expect(ids(await keys(`lockId=${A}`))).toEqual([active, scheduled]);
    expect(ids(await keys(`userId=${encodeURIComponent(KARI)}`))).toEqual([active, expiring]);
    expect(ids(await keys("userId=987 65 432"))).toEqual([scheduled, revoked]);
    expect(ids(await keys("state=active"))).toEqual([active]);
    expect(ids(await keys("state=scheduled"))).toEqual([scheduled]);
    expect(ids(await keys("state=expired"))).toEqual([expiring]);
    expect(ids(await keys("state=revoked"))).toEqual([revoked]);
    expect(ids(await keys("state=creating"))).toEqual([]);
    expect(ids(await keys("state=error"))).toEqual([]);
    // Every state filter agrees with the state each key shows.
    for (const state of ["active", "scheduled", "expired", "revoked"]) {
      for (const k of (await keys(`state=${state}`)).body.keys) expect(k.state).toBe(state);
    }
    expect(ids(await keys(`lockId=${B}&userId=${encodeURIComponent(OLA)}&state=revoked`))).toEqual([revoked]);
    expect(ids(await keys(`lockId=${B}&state=active`))).toEqual([]);
    // The scheduled key becomes active with the clock.
    t.clock.advance(86_400_000);
    expect(ids(await keys("state=active"))).toEqual([active, scheduled]);

    const first = await keys(`lockId=${A}&limit=1`);
    expect([ids(first), first.body.startAfterId]).toEqual([[active], active]);
    const rest = await keys(`lockId=${A}&limit=1&startAfterId=${active}`);
    expect(ids(rest)).toEqual([scheduled]);
    expect(rest.body.startAfterId).toBeUndefined();

    for (const [query, says] of [
      ["state=live", 'query.state: must be "creating", or "scheduled"'],
      ["userId=abc", 'query.userId: "abc" is not a valid phone number'],
      ["lockId=", "query.lockId"],
      ["action=unlocked", "query.action: Unexpected property"],
    ] as const) {
      const res = await keys(query);
      expect(res.status, query).toBe(400);
      expect(res.body.errorDescription).toContain(says);
    }
  });

  it("state=creating lists a batch's keys until its job reaches them", async () => {
    const paused = await startTestCloud({ workers: false });
    const ptn = await tenant(paused);
    const { lockIds } = await virtualLocks(paused, ptn, 1);
    const single = await paused.call("POST", lh(ptn, "/keys"), {
      token: ptn.token,
      body: { lockId: lockIds[0], userId: KARI },
    });
    const batch = await paused.call("POST", lh(ptn, "/keys/batch"), {
      token: ptn.token,
      body: { keys: [{ lockId: lockIds[0], userId: OLA }] },
    });
    expect(batch.status).toBe(202);
    const creating = await paused.call("GET", lh(ptn, "/keys?state=creating"), { token: ptn.token });
    expect(creating.body.keys.map((k: { state: string }) => k.state)).toEqual(["creating"]);
    expect(ids(creating)).not.toContain(single.body.id);
  });
});
