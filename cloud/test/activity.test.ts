import type { ServerResponse } from "node:http";
import { fromHex, type LockEvent } from "@latchkey/protocol";
import { WEBHOOK_EVENT_TYPES } from "@latchkey/protocol/contracts";
import { Webhook } from "standardwebhooks";
import { beforeEach, describe, expect, it } from "vitest";
import { registerPhone, unlockVirtual } from "./app.js";
import {
  bridgeWithConnection,
  lh,
  type Tenant,
  type TestCloud,
  tenant,
  tenantSiteEach,
  until,
  virtualLocks,
} from "./helpers.js";
import { claimedLock, eventReport, sendReports, type TestLock } from "./lock.js";
import { receiversEach } from "./receiver.js";

let t: TestCloud;
let tn: Tenant;

tenantSiteEach({}, (s) => {
  ({ t, tn } = s);
});

describe("changelog 5: get your integrator", () => {
  it("answers your own integrator and 404 for any other id", async () => {
    const res = await t.call("GET", `/integrators/v1/integrator/${tn.integratorId}`, { token: tn.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: tn.integratorId, name: "Tenant", created: "2027-01-15T08:00:00.000Z" });
    const other = await tenant(t, "Other");
    expect((await t.call("GET", `/integrators/v1/integrator/${other.integratorId}`, { token: tn.token })).status).toBe(
      404,
    );
    expect((await t.call("GET", "/integrators/v1/integrator/int_nope", { token: tn.token })).status).toBe(404);
  });
});

describe("changelog 6: lock holder events", () => {
  let front: TestLock;
  let back: TestLock;
  let send: (lock: TestLock, reports: string[]) => Promise<unknown>;
  const idOf = (n: number) => n.toString(16).padStart(32, "0");
  /** Event n of `lock` at lock time `ts`, sealed as the lock would (docs/reports.md). */
  const ev = (lock: TestLock, n: number, ts: number, fields: Partial<LockEvent> = {}) =>
    eventReport(lock, n, { id: fromHex(idOf(n)), ts, ...fields });

  beforeEach(async () => {
    const br = await bridgeWithConnection(t, tn);
    front = await claimedLock(t, tn, br, "sim-1", { name: "Front" });
    back = await claimedLock(t, tn, br, "sim-2", { name: "Back" });
    send = (lock, reports) => sendReports(t, br, lock, reports);
  });

  it("lists key events of all the lock holder's locks, newest first, paginated with startAfterId", async () => {
    const now = 1_800_000_000;
    await send(front, [ev(front, 1, now - 50), ev(front, 3, now - 30), ev(front, 5, now - 10)]);
    await send(back, [ev(back, 2, now - 40), ev(back, 4, now - 20, { type: "denied", code: "expired" })]);
    const page1 = await t.call("GET", lh(tn, "/events?limit=2"), { token: tn.token });
    expect(page1.body.events.map((e: { id: string }) => e.id)).toEqual([idOf(5), idOf(4)]);
    expect(page1.body.events[1]).toMatchObject({
      action: "denied",
      lockId: "sim-2",
      lockName: "Back",
      created: "2027-01-15T07:59:40.000Z",
    });
    const page2 = await t.call("GET", lh(tn, `/events?limit=2&startAfterId=${page1.body.startAfterId}`), {
      token: tn.token,
    });
    expect(page2.body.events.map((e: { id: string }) => e.id)).toEqual([idOf(3), idOf(2)]);
    const page3 = await t.call("GET", lh(tn, `/events?limit=2&startAfterId=${page2.body.startAfterId}`), {
      token: tn.token,
    });
    expect(page3.body.events.map((e: { id: string }) => e.id)).toEqual([idOf(1)]);
    expect(page3.body.startAfterId).toBeUndefined();
  });

  it("covers the newest 30 days only, and leaves out lock housekeeping events", async () => {
    const now = 1_800_000_000;
    await send(front, [
      ev(front, 1, now - 31 * 86_400),
      ev(front, 2, now - 29 * 86_400),
      ev(front, 3, now, { type: "state_applied", v: 1_800_000_000_000 }),
      ev(front, 4, now, { type: "battery_low" }),
    ]);
    const res = await t.call("GET", lh(tn, "/events"), { token: tn.token });
    expect(res.body.events.map((e: { id: string }) => e.id)).toEqual([idOf(2)]);
    t.clock.advance(2 * 86_400_000);
    expect((await t.call("GET", lh(tn, "/events"), { token: tn.token })).body.events).toEqual([]);
  });

  it("bad pagination → 400; other tenants see nothing", async () => {
    for (const q of ["limit=0", "limit=2501", "limit=ten", "startAfterId=" + "0".repeat(32), "startAfterId="]) {
      const res = await t.call("GET", lh(tn, `/events?${q}`), { token: tn.token });
      expect(res.status, q).toBe(400);
    }
    const other = await tenant(t, "Other");
    expect((await t.call("GET", lh(tn, "/events"), { token: other.token })).status).toBe(404);
  });
});

describe("changelog 7: lock holder webhooks", () => {
  const listen = receiversEach();
  const receiver = (answer: (n: number, res: ServerResponse) => void) => listen((res, n) => answer(n, res));

  it("create (secret shown once), list, delete", async () => {
    const created = await t.call("POST", lh(tn, "/webhooks"), {
      token: tn.token,
      body: { url: "https://example.com/hook" },
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const list = await t.call("GET", lh(tn, "/webhooks"), { token: tn.token });
    expect(list.body.webhooks).toEqual([
      {
        id: created.body.id,
        url: "https://example.com/hook",
        created: created.body.created,
        eventTypes: [...WEBHOOK_EVENT_TYPES],
        paused: false,
      },
    ]);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    expect((await t.call("DELETE", lh(tn, `/webhooks/${created.body.id}`), { token: tn.token })).status).toBe(204);
    expect((await t.call("DELETE", lh(tn, `/webhooks/${created.body.id}`), { token: tn.token })).status).toBe(404);
    expect((await t.call("GET", lh(tn, "/webhooks"), { token: tn.token })).body.webhooks).toEqual([]);
    for (const url of ["ftp://example.com", "not a url", "file:///etc/passwd"]) {
      expect((await t.call("POST", lh(tn, "/webhooks"), { token: tn.token, body: { url } })).status).toBe(400);
    }
  });

  it("delivers key events signed per Standard Webhooks, without blocking the request that caused them", async () => {
    let release: (() => void) | undefined;
    const rx = await receiver((_n, res) => {
      release = () => res.writeHead(204).end();
    });
    const hook = await t.call("POST", lh(tn, "/webhooks"), {
      token: tn.token,
      body: { url: rx.url, eventTypes: ["key_event.created"] },
    });
    const { lockIds } = await virtualLocks(t, tn, 1);
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567" },
    });
    const phone = await registerPhone(t, "+4791234567");
    const token = (await t.call("GET", "/app/v1/keys", { token: phone.token })).body.keys[0].token;
    const unlocked = await unlockVirtual(t, phone, lockIds[0]!, token);
    expect(unlocked.status).toBe(200);
    // The receiver holds its answer: the unlock has already been answered while the delivery is in flight.
    await until("the delivery", () => rx.got.length === 1);
    const delivery = rx.got[0]!;
    const data = new Webhook(hook.body.secret).verify(
      delivery.body,
      delivery.headers as Record<string, string>,
    ) as Record<string, unknown>;
    expect(data).toMatchObject({
      type: "key_event.created",
      data: {
        id: unlocked.body.eventId,
        action: "unlocked",
        keyId: key.body.id,
        lockId: lockIds[0]!,
        userId: "+4791234567",
        userName: null,
      },
    });
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(24, 1).toString("base64")}`).verify(
        delivery.body,
        delivery.headers as Record<string, string>,
      ),
    ).toThrow();
    release!();
    await until("delivered", async () => {
      const d = await t.call("GET", lh(tn, `/webhooks/${hook.body.id}/deliveries`), { token: tn.token });
      return d.body.deliveries[0]?.status === "delivered";
    });
  });

  it("retries with exponential backoff until a 2xx: at least once, same webhook-id", async () => {
    const rx = await receiver((n, res) => res.writeHead(n < 3 ? 500 : 200).end());
    const hook = await t.call("POST", lh(tn, "/webhooks"), {
      token: tn.token,
      body: { url: rx.url, eventTypes: ["key_event.created"] },
    });
    const br = await bridgeWithConnection(t, tn);
    const lock = await claimedLock(t, tn, br, "sim-1");
    await sendReports(t, br, lock, [eventReport(lock, 1)]);
    const deliveries = async () =>
      (await t.call("GET", lh(tn, `/webhooks/${hook.body.id}/deliveries`), { token: tn.token })).body.deliveries[0];
    const first = await until("first attempt", async () => {
      const d = await deliveries();
      return d?.attempts === 1 && d;
    });
    expect(first).toMatchObject({ status: "pending", lastError: "HTTP 500" });
    // full jitter: the next attempt is due within base (1 s) of the failure, and not before the clock moves
    const due1 = Date.parse(first.nextAttempt) - t.clock.now();
    expect(due1).toBeGreaterThanOrEqual(0);
    expect(due1).toBeLessThanOrEqual(1000);
    t.clock.advance(1001);
    const second = await until("second attempt", async () => {
      const d = await deliveries();
      return d?.attempts === 2 && d;
    });
    expect(Date.parse(second.nextAttempt) - t.clock.now()).toBeLessThanOrEqual(2000);
    t.clock.advance(2001);
    await until("delivered", async () => (await deliveries())?.status === "delivered");
    expect(rx.got).toHaveLength(3);
    expect(new Set(rx.got.map((g) => g.headers["webhook-id"])).size).toBe(1);
    for (const g of rx.got) new Webhook(hook.body.secret).verify(g.body, g.headers as Record<string, string>);
  });

  it("gives up after maxAttempts; a deleted webhook gets nothing more", async () => {
    const rx = await receiver((_n, res) => res.writeHead(503).end());
    const hook = await t.call("POST", lh(tn, "/webhooks"), {
      token: tn.token,
      body: { url: rx.url, eventTypes: ["key_event.created"] },
    });
    const br = await bridgeWithConnection(t, tn);
    const lock = await claimedLock(t, tn, br, "sim-1");
    await sendReports(t, br, lock, [eventReport(lock, 1, { type: "denied", code: "expired" })]);
    const d = async () =>
      (await t.call("GET", lh(tn, `/webhooks/${hook.body.id}/deliveries`), { token: tn.token })).body.deliveries[0];
    for (let attempt = 1; attempt <= 5; attempt++) {
      await until(`attempt ${attempt}`, async () => (await d())?.attempts === attempt);
      t.clock.advance(60_001);
    }
    expect(await d()).toMatchObject({ status: "failed", attempts: 5, lastError: "HTTP 503", nextAttempt: null });
    await t.call("DELETE", lh(tn, `/webhooks/${hook.body.id}`), { token: tn.token });
    await sendReports(t, br, lock, [eventReport(lock, 2)]);
    expect(rx.got).toHaveLength(5);
  });
});

describe("changelog 8: phone number formatting", () => {
  it("formats to E.164, or 422", async () => {
    const call = (body: unknown) => t.call("POST", "/integrators/v1/phone-numbers/format", { token: tn.token, body });
    expect((await call({ phoneNumber: "912 34 567", countryIso: "NO" })).body).toEqual({ phoneNumber: "+4791234567" });
    expect((await call({ phoneNumber: "+47 912 34 567" })).body).toEqual({ phoneNumber: "+4791234567" });
    expect((await call({ phoneNumber: "(202) 555-0123", countryIso: "US" })).body).toEqual({
      phoneNumber: "+12025550123",
    });
    const bad = await call({ phoneNumber: "12345", countryIso: "NO" });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toBe("invalid_phone_number");
    expect((await call({ phoneNumber: "912 34 567" })).status).toBe(422);
    expect((await call({ phoneNumber: "912", countryIso: "Norway" })).status).toBe(400);
  });
});

describe("changelog 16: Request a Key is deprecated", () => {
  it("answers 410 with a Deprecation header and a link to the alternative", async () => {
    for (const [method, url] of [
      ["POST", "/service-providers/v1/key-requests"],
      ["GET", "/service-providers/v1/key-requests-options/12345678"],
    ] as const) {
      const res = await t.call(method, url, { body: method === "POST" ? { any: "thing" } : undefined });
      expect(res.status).toBe(410);
      expect(res.headers.deprecation).toMatch(/^@\d+$/);
      expect(res.headers.link).toContain("/integrators/v1/lock-holders/{lockHolderId}/keys");
      expect(res.body.error).toBe("deprecated");
      expect(res.body.errorDescription).toContain("/keys");
    }
  });
});

describe("OpenAPI document and docs page", () => {
  it("lists every route, with request examples for each scenario", async () => {
    const doc = await t.call("GET", "/docs/json");
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.0.3");
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const routes = t.cloud.app.printRoutes({ commonPrefix: false }).split("\n").filter(Boolean);
    expect(routes.length).toBeGreaterThan(0);
    const expected = [
      "POST /auth/v1/token",
      "GET /integrators/v1/integrator/{integratorId}",
      "GET /integrators/v1/lock-holders",
      "POST /integrators/v1/lock-holders",
      "PATCH /integrators/v1/lock-holders/{lockHolderId}",
      "POST /integrators/v1/lock-holders/{lockHolderId}/vendor-connections",
      "GET /integrators/v1/lock-holders/{lockHolderId}/vendor-connections/{vendorConnectionId}",
      "PUT /integrators/v1/lock-holders/{lockHolderId}/vendor-connections/{vendorConnectionId}/refresh",
      "PUT /integrators/v1/lock-holders/{lockHolderId}/vendor-connections/{vendorConnectionId}/update-password",
      "DELETE /integrators/v1/lock-holders/{lockHolderId}/vendor-connections/{vendorConnectionId}",
      "PATCH /integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}",
      "POST /integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/keys",
      "POST /integrators/v1/lock-holders/{lockHolderId}/keys",
      "POST /integrators/v1/lock-holders/{lockHolderId}/keys/batch",
      "GET /integrators/v1/lock-holders/{lockHolderId}/keys/{keyId}",
      "PUT /integrators/v1/lock-holders/{lockHolderId}/keys/{keyId}",
      "GET /integrators/v1/jobs/{jobId}",
      "GET /integrators/v1/lock-holders/{lockHolderId}/events",
      "POST /integrators/v1/lock-holders/{lockHolderId}/webhooks",
      "DELETE /integrators/v1/lock-holders/{lockHolderId}/webhooks/{webhookId}",
      "POST /integrators/v1/phone-numbers/format",
      "POST /integrators/v1/lock-holders/{lockHolderId}/bridges",
      "POST /integrators/v1/lock-holders/{lockHolderId}/issuer-keys/rotate",
      "POST /integrators/v1/lock-holders/{lockHolderId}/issuer-keys/{kid}/retire",
      "GET /bridge/v1/changes",
      "PUT /bridge/v1/vendor-connections/{vendorConnectionId}/state",
      "PUT /bridge/v1/vendor-connections/{vendorConnectionId}/locks",
      "POST /bridge/v1/ingest",
      "POST /bridge/v1/reports",
      "POST /integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/actions",
      "GET /integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/actions",
      "GET /integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/actions/{actionId}",
      "POST /bridge/v1/actions/{actionId}/command",
      "POST /bridge/v1/actions/{actionId}/result",
      "POST /bridge/v1/heartbeat",
      "POST /app/v1/verification",
      "POST /app/v1/verification/{verificationId}/confirm",
      "GET /app/v1/keys",
      "DELETE /app/v1/device",
      "POST /app/v1/virtual-locks/{lockId}/challenge",
      "POST /app/v1/virtual-locks/{lockId}/unlock",
      "POST /service-providers/v1/key-requests",
    ];
    for (const route of expected) expect(documented, route).toContain(route);
    const create = doc.body.paths["/integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/keys"].post;
    const examples = create.requestBody.content["application/json"].examples;
    expect(Object.keys(examples)).toEqual(expect.arrayContaining(["withEnd", "withDuration", "withMetadata"]));
    const vc = doc.body.paths["/integrators/v1/lock-holders/{lockHolderId}/vendor-connections"].post;
    expect(Object.keys(vc.requestBody.content["application/json"].examples)).toEqual(
      expect.arrayContaining(["virtual", "sim"]),
    );
    // Remote actions: request and answer examples, an example for each error status.
    const action = doc.body.paths["/integrators/v1/lock-holders/{lockHolderId}/locks/{lockId}/actions"].post;
    expect(Object.keys(action.requestBody.content["application/json"].examples)).toEqual(["unlock", "lock"]);
    expect(Object.keys(action.responses["202"].content["application/json"].examples)).toEqual(
      expect.arrayContaining(["pending", "succeeded", "failed", "expired"]),
    );
    for (const status of ["400", "403", "404", "409"]) {
      expect(Object.keys(action.responses[status].content["application/json"].examples ?? {}), status).not.toEqual([]);
    }
    const command = doc.body.paths["/bridge/v1/actions/{actionId}/command"].post;
    expect(Object.keys(command.responses["409"].content["application/json"].examples)).toEqual([
      "action_closed",
      "command_already_issued",
    ]);
    const page = await t.call("GET", "/docs");
    expect([200, 302]).toContain(page.status);
  });
});
