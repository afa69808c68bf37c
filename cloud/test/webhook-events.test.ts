import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WEBHOOK_EVENT_TYPES } from "@latchkey/protocol/contracts";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CloudContext } from "../src/context.js";
import { VIRTUAL_DRAIN_SECONDS_PER_PERCENT, virtualBattery } from "../src/domain/virtual-battery.js";
import { keyStateTracking } from "../src/store/records.js";
import { announceKeyStates } from "../src/workers/key-states.js";
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
  until,
  virtualLocks,
} from "./helpers.js";
import { claimedLock, factoryLock, reportedAndClaimed, sendReports, telemetryReport } from "./lock.js";
import { SUITE_ON_POSTGRES } from "./postgres.js";

/**
 * Webhook event types, pause and replay (issue 14, docs/webhooks.md), against a real HTTP receiver on 127.0.0.1 that
 * verifies every delivery's Standard Webhooks signature before it counts it. Real SQLite, or PostgreSQL when the
 * suite runs there (helpers.ts).
 */

interface Got {
  id: string;
  type: string;
  data: Record<string, unknown>;
  headers: IncomingHttpHeaders;
}

interface Receiver {
  url: string;
  got: Got[];
  /** What the receiver answers: 204 unless changed. */
  status: number;
  secret?: string;
  close(): Promise<void>;
}

let t: TestCloud;
let tn: Tenant;
let receivers: Server[] = [];

beforeEach(async () => {
  t = await startTestCloud();
  tn = await tenant(t);
});
afterEach(async () => {
  for (const s of receivers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  receivers = [];
  await closeAll();
});

/** A receiver that counts only deliveries whose signature verifies with its webhook's secret. */
async function receiver(): Promise<Receiver> {
  const rx: Receiver = { url: "", got: [], status: 204, close: async () => {} };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      try {
        const payload = new Webhook(rx.secret!).verify(body, req.headers as Record<string, string>) as Got;
        if (rx.status < 300) {
          rx.got.push({ ...payload, id: req.headers["webhook-id"] as string, headers: req.headers });
        }
        res.writeHead(rx.status).end();
      } catch {
        res.writeHead(401).end();
      }
    });
  });
  receivers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  rx.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return rx;
}

async function hook(rx: Receiver, eventTypes?: string[]): Promise<string> {
  const created = await t.call("POST", lh(tn, "/webhooks"), {
    token: tn.token,
    body: { url: rx.url, ...(eventTypes ? { eventTypes } : {}) },
  });
  expect(created.status).toBe(201);
  rx.secret = created.body.secret;
  return created.body.id;
}

const deliveries = async (webhookId: string) =>
  (await t.call("GET", lh(tn, `/webhooks/${webhookId}/deliveries`), { token: tn.token })).body.deliveries as {
    id: string;
    type: string;
    status: string;
    attempts: number;
  }[];

const ofType = (rx: Receiver, type: string) => rx.got.filter((g) => g.type === type);

/** A cloud without workers (the test runs their steps itself, through its context), a tenant and one virtual lock. */
async function quietCloud() {
  let ctx: CloudContext | undefined;
  const quiet = await startTestCloud({
    workers: false,
    extraRoutes: async (_app, c) => {
      ctx = c;
    },
  });
  const qt = await tenant(quiet);
  const { lockIds } = await virtualLocks(quiet, qt, 1);
  return { quiet, ctx: ctx!, qt, lockIds };
}

describe("event types per webhook", () => {
  it("default is every type; a subset on create; PATCH changes it; an unknown type is a 400 naming it", async () => {
    const rx = await receiver();
    const all = await t.call("POST", lh(tn, "/webhooks"), { token: tn.token, body: { url: rx.url } });
    expect(all.body).toMatchObject({ eventTypes: [...WEBHOOK_EVENT_TYPES], paused: false });
    for (const eventTypes of [["key.created", "key.exploded"], [], ["key.created", "key.created"]]) {
      const res = await t.call("POST", lh(tn, "/webhooks"), { token: tn.token, body: { url: rx.url, eventTypes } });
      expect(res.status).toBe(400);
      expect(res.body.errorDescription).toContain("eventTypes");
    }
    const bad = await t.call("POST", lh(tn, "/webhooks"), {
      token: tn.token,
      body: { url: rx.url, eventTypes: ["key.created", "key.exploded"] },
    });
    expect(bad.body.errorDescription).toContain("body.eventTypes.1");
    const id = await hook(rx, ["key.revoked"]);
    const patched = await t.call("PATCH", lh(tn, `/webhooks/${id}`), {
      token: tn.token,
      body: { eventTypes: ["key.created", "key.updated"] },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, eventTypes: ["key.created", "key.updated"], paused: false });
    expect(
      (await t.call("PATCH", lh(tn, `/webhooks/${id}`), { token: tn.token, body: { eventTypes: ["nope"] } })).status,
    ).toBe(400);
    expect((await t.call("PATCH", lh(tn, `/webhooks/${id}`), { token: tn.token, body: {} })).status).toBe(400);
    const other = await tenant(t, "Other");
    expect(
      (
        await t.call("PATCH", `/integrators/v1/lock-holders/${other.lockHolderId}/webhooks/${id}`, {
          token: other.token,
          body: { paused: true },
        })
      ).status,
    ).toBe(404);
  });

  it("key.created, key.updated, key.revoked: signed, only the types taken, each the key as the API shows it", async () => {
    const rx = await receiver();
    const only = await receiver();
    await hook(rx);
    await hook(only, ["key.revoked"]);
    const { lockIds } = await virtualLocks(t, tn, 1);
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567", userName: "Kari" },
    });
    expect(key.status).toBe(201);
    // One step at a time: deliveries claimed together are sent at once, and arrive in any order.
    await until("key.created", () => rx.got.length === 1);
    const edited = await t.call("PATCH", lh(tn, `/keys/${key.body.id}`), {
      token: tn.token,
      body: { metadata: { room: 12 } },
    });
    expect(edited.status).toBe(200);
    await until("key.updated", () => rx.got.length === 2);
    await t.call("PUT", lh(tn, `/keys/${key.body.id}`), { token: tn.token, body: { state: "revoked" } });
    await until("three key events", () => rx.got.length >= 3 && only.got.length >= 1);
    expect(rx.got.map((g) => g.type)).toEqual(["key.created", "key.updated", "key.revoked"]);
    expect(rx.got[0]!.data).toMatchObject({ id: key.body.id, lockId: lockIds[0], userName: "Kari", state: "active" });
    expect(rx.got[1]!.data).toMatchObject({ id: key.body.id, metadata: { room: 12 } });
    expect(rx.got[2]!.data).toMatchObject({ id: key.body.id, state: "revoked" });
    expect(only.got.map((g) => g.type)).toEqual(["key.revoked"]);
    // A receiver with another secret could not verify any of them: the receiver above counts only verified ones.
    expect(new Set(rx.got.map((g) => g.id)).size).toBe(3);
  });

  it("key.state_changed: scheduled → active → expired, once per transition, by the cloud's clock", async () => {
    const rx = await receiver();
    await hook(rx, ["key.state_changed"]);
    const { lockIds } = await virtualLocks(t, tn, 1);
    const start = t.clock.now() + 3_600_000;
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: {
        lockId: lockIds[0]!,
        userId: "+4791234567",
        start: new Date(start).toISOString(),
        end: new Date(start + 3_600_000).toISOString(),
      },
    });
    expect(key.body.state).toBe("scheduled");
    t.clock.advance(3_600_000);
    await until("active", () => rx.got.length === 1);
    expect(rx.got[0]!.data).toMatchObject({ id: key.body.id, state: "active", previousState: "scheduled" });
    t.clock.advance(1_000);
    t.clock.advance(3_600_000);
    await until("expired", () => rx.got.length === 2);
    expect(rx.got[1]!.data).toMatchObject({ id: key.body.id, state: "expired", previousState: "active" });
    // More passes of the worker, a later clock: nothing new.
    t.clock.advance(86_400_000);
    const other = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234568", durationMinutes: 1 },
    });
    t.clock.advance(60_000);
    await until("the second key expired", () => rx.got.length === 3);
    expect(rx.got[2]!.data).toMatchObject({ id: other.body.id, state: "expired", previousState: "active" });
    expect(rx.got.filter((g) => g.data.id === key.body.id)).toHaveLength(2);
  });

  it("key.state_changed: a worker that read a key before another announced it writes nothing and sends nothing", async () => {
    const { quiet, ctx, qt, lockIds } = await quietCloud();
    const start = quiet.clock.now() + 60_000;
    await quiet.call("POST", lh(qt, "/webhooks"), { token: qt.token, body: { url: "https://example.com/hook" } });
    await quiet.call("POST", lh(qt, "/keys"), {
      token: qt.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567", start: new Date(start).toISOString() },
    });
    quiet.clock.advance(60_000);
    const now = quiet.clock.now();
    const stale = await ctx.store.transaction((tx) => tx.keys.dueStateChanges(now, 10));
    expect(stale.map((d) => d.notified)).toEqual(["scheduled"]);
    await announceKeyStates(ctx);
    const { key, notified } = stale[0]!;
    const wrote = await ctx.store.transaction((tx) =>
      tx.keys.setStateTracking(key.id, keyStateTracking(key, now), notified),
    );
    expect(wrote).toBe(false);
    await announceKeyStates(ctx);
    const hooks = (await quiet.call("GET", lh(qt, "/webhooks"), { token: qt.token })).body.webhooks;
    const sent = (await quiet.call("GET", lh(qt, `/webhooks/${hooks[0].id}/deliveries`), { token: qt.token })).body
      .deliveries as { type: string }[];
    expect(sent.filter((d) => d.type === "key.state_changed")).toHaveLength(1);
  });

  // Several cloud processes share one database on PostgreSQL only (cloud/README.md "Running several processes").
  it.skipIf(!SUITE_ON_POSTGRES)("key.state_changed once per transition with two clouds on one database", async () => {
    const rx = await receiver();
    const id = await hook(rx, ["key.state_changed"]);
    const { lockIds } = await virtualLocks(t, tn, 1);
    const start = t.clock.now() + 60_000;
    for (let i = 0; i < 20; i++) {
      const key = await t.call("POST", lh(tn, "/keys"), {
        token: tn.token,
        body: {
          lockId: lockIds[0]!,
          userId: `+47912345${String(i).padStart(2, "0")}`,
          start: new Date(start).toISOString(),
        },
      });
      expect(key.body.state).toBe("scheduled");
    }
    const second = await startTestCloud({ dataDir: t.dir, clock: t.clock, seed: "second process" });
    try {
      t.clock.advance(60_000);
      await until("20 announcements", async () => (await deliveries(id)).length >= 20);
      // Both workers had many turns since: none announced a transition twice.
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 25));
      const sent = await deliveries(id);
      expect(sent).toHaveLength(20);
      await until("received", () => rx.got.length === 20);
      expect(new Set(rx.got.map((g) => g.data.id)).size).toBe(20);
    } finally {
      await second.cloud.close();
    }
  });

  it("lock.battery_low / lock.battery_critical on crossing down, not on every report", async () => {
    const rx = await receiver();
    const br = await bridgeWithConnection(t, tn);
    await hook(rx, ["lock.battery_low", "lock.battery_critical"]);
    const lock = await claimedLock(t, tn, br, "sim-1", { name: "Front door" });
    const ts = 1_800_000_000;
    await sendReports(t, br, lock, [telemetryReport(lock, 90, ts)]);
    await sendReports(t, br, lock, [telemetryReport(lock, 20, ts + 1, undefined, { state: "low" })]);
    await until("low", () => rx.got.length === 1);
    await sendReports(t, br, lock, [telemetryReport(lock, 19, ts + 2, undefined, { state: "low" })]);
    await sendReports(t, br, lock, [telemetryReport(lock, 5, ts + 3, undefined, { state: "critical" })]);
    await sendReports(t, br, lock, [telemetryReport(lock, 4, ts + 4, undefined, { state: "critical" })]);
    await until("two battery events", () => rx.got.length === 2);
    expect(rx.got.map((g) => g.type)).toEqual(["lock.battery_low", "lock.battery_critical"]);
    expect(rx.got[0]!.data).toMatchObject({ lockId: "sim-1", lockName: "Front door", level: 20, state: "low" });
    // A new battery (ok), then low again: announced again.
    await sendReports(t, br, lock, [telemetryReport(lock, 100, ts + 5)]);
    await sendReports(t, br, lock, [telemetryReport(lock, 15, ts + 6, undefined, { state: "low" })]);
    await until("low again", () => rx.got.length === 3);
    expect(rx.got[2]!.type).toBe("lock.battery_low");
  });

  it("a virtual lock's simulated battery announces its crossings as a real lock's does", async () => {
    const rx = await receiver();
    await hook(rx, ["lock.battery_low", "lock.battery_critical"]);
    const { lockIds } = await virtualLocks(t, tn, 1);
    const lockId = lockIds[0]!;
    const createdAt = t.clock.now();
    const start = virtualBattery({ id: lockId, createdAt }, createdAt).level;
    const perPercent = VIRTUAL_DRAIN_SECONDS_PER_PERCENT * 1000;
    t.clock.advance((start - 20) * perPercent);
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId, userId: "+4791234567", durationMinutes: 60 * 24 * 365 },
    });
    expect(key.status).toBe(201);
    // Signed in afresh each time: months pass between the uses, longer than a phone's access token lasts.
    const challenge = async (seed: string) => {
      const phone = await registerPhone(t, "+4791234567", seed);
      const res = await t.call("POST", `/app/v1/virtual-locks/${lockId}/challenge`, { token: phone.token });
      expect(res.status).toBe(200);
    };
    await challenge("first");
    await until("low", () => rx.got.length === 1);
    // Still low on the next use, and a percent lower: nothing new.
    t.clock.advance(perPercent);
    await challenge("second");
    t.clock.advance(14 * perPercent);
    await challenge("third");
    await until("critical", () => rx.got.length === 2);
    await challenge("fourth");
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 25));
    expect(rx.got.map((g) => [g.type, g.data.lockId, g.data.level, g.data.previousState])).toEqual([
      ["lock.battery_low", lockId, 20, "ok"],
      ["lock.battery_critical", lockId, 5, "low"],
    ]);
  });

  it("lock.offline / lock.online when the presence changes; vendor_connection.state_changed", async () => {
    const rx = await receiver();
    const br = await bridgeWithConnection(t, tn);
    await hook(rx, ["lock.online", "lock.offline", "vendor_connection.state_changed"]);
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    const presence = (online: boolean, ts: number) =>
      t.call("POST", "/bridge/v1/ingest", { token: br.token, body: { presence: [{ lockId: "sim-1", online, ts }] } });
    expect((await presence(true, 1_800_000_001)).status).toBe(200);
    await presence(true, 1_800_000_002);
    await until("online", () => rx.got.length === 1);
    // Past the flap limit (docs/webhooks.md "Presence"), so the next change is announced at once.
    t.clock.advance(60_000);
    await presence(false, 1_800_000_003);
    // An older report changes nothing, so it announces nothing.
    await presence(true, 1_800_000_000);
    await until("online, offline", () => rx.got.length === 2);
    expect(rx.got.map((g) => [g.type, g.data.lockId, g.data.online])).toEqual([
      ["lock.online", "sim-1", true],
      ["lock.offline", "sim-1", false],
    ]);
    await reportState(br, "error", "invalid vendor credentials");
    await reportState(br, "error", "invalid vendor credentials");
    await until("the connection's state", () => rx.got.length === 3);
    expect(rx.got[2]).toMatchObject({
      type: "vendor_connection.state_changed",
      data: { vendorConnectionId: br.vcId, state: "error", reason: "invalid vendor credentials" },
    });
    // The integrator's own changes too: a refresh (the bridge re-reads), and a delete (disconnected for good).
    const vcPath = lh(tn, `/vendor-connections/${br.vcId}`);
    expect((await t.call("PUT", `${vcPath}/refresh`, { token: tn.token })).status).toBeLessThan(300);
    await until("refreshing", () => rx.got.length === 4);
    expect((await t.call("DELETE", vcPath, { token: tn.token })).status).toBeLessThan(300);
    await until("refreshing, disconnected", () => rx.got.length === 5);
    // Once each: the delete's own state change is `disconnected` (deleted connections read so), not announced twice.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 25));
    expect(rx.got.slice(3).map((g) => [g.type, g.data.state ?? g.data.online, g.data.previousState])).toEqual([
      ["vendor_connection.state_changed", "refreshing", "error"],
      ["vendor_connection.state_changed", "disconnected", "refreshing"],
    ]);
  });
});

describe("vendor connection state", () => {
  it("a new password (the bridge checks it again) announces connecting, from the state it was in", async () => {
    const rx = await receiver();
    const br = await bridgeWithConnection(t, tn);
    await hook(rx, ["vendor_connection.state_changed"]);
    await reportState(br, "error", "invalid vendor credentials");
    await until("error", () => rx.got.length === 1);
    const password = (p: string) =>
      t.call("PUT", lh(tn, `/vendor-connections/${br.vcId}/update-password`), {
        token: tn.token,
        body: { password: p },
      });
    expect((await password("pw-new")).status).toBe(200);
    await until("connecting", () => rx.got.length === 2);
    expect(rx.got[1]).toMatchObject({
      type: "vendor_connection.state_changed",
      data: { vendorConnectionId: br.vcId, vendor: "sim", state: "connecting", previousState: "error", reason: null },
    });
    // Another new password before the bridge answered: still connecting, nothing is news.
    expect((await password("pw-newer")).status).toBe(200);
    await reportState(br, "connected");
    await until("connected", () => rx.got.length === 3);
    expect(rx.got.map((g) => [g.data.previousState, g.data.state])).toEqual([
      ["connecting", "error"],
      ["error", "connecting"],
      ["connecting", "connected"],
    ]);
  });
});

describe('lock presence (docs/webhooks.md "Presence")', () => {
  const presence = (br: BridgeSetup, online: boolean, ts: number) =>
    t.call("POST", "/bridge/v1/ingest", { token: br.token, body: { presence: [{ lockId: "sim-1", online, ts }] } });
  const shown = async () => (await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token })).body.online;
  /** Many turns of the worker (it polls every 20 ms) at the clock as it is. */
  const turns = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 25));
  };

  it("a lock whose bridge goes silent is offline, once; heard again, it is online", async () => {
    const rx = await receiver();
    const br = await bridgeWithConnection(t, tn);
    await hook(rx, ["lock.online", "lock.offline"]);
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    const heard = t.clock.now();
    expect((await presence(br, true, 1_800_000_000)).status).toBe(200);
    await until("online", () => rx.got.length === 1);
    expect(await shown()).toBe(true);
    // Silent for the bridge's offline threshold: not yet.
    t.clock.advance(90_000);
    await turns();
    expect(rx.got).toHaveLength(1);
    t.clock.advance(1);
    await until("offline", () => rx.got.length === 2);
    expect(rx.got[1]).toMatchObject({
      type: "lock.offline",
      data: { lockId: "sim-1", online: false, since: new Date(heard).toISOString() },
    });
    expect(await shown()).toBe(false);
    // Still silent, many more turns: said once.
    t.clock.advance(60_000);
    await turns();
    expect(rx.got).toHaveLength(2);
    const beat = await t.call("POST", "/bridge/v1/heartbeat", { token: br.token, body: { version: "1.0.0" } });
    expect(beat.status).toBe(204);
    await until("online again", () => rx.got.length === 3);
    expect(rx.got[2]).toMatchObject({ type: "lock.online", data: { lockId: "sim-1", online: true } });
    expect(await shown()).toBe(true);
    // Silent again; this time a presence report is what is heard first.
    t.clock.advance(90_001);
    await until("offline again", () => rx.got.length === 4);
    t.clock.advance(60_000);
    expect((await presence(br, true, 1_800_000_100)).status).toBe(200);
    await until("online by its report", () => rx.got.length === 5);
    expect(rx.got.map((g) => g.type)).toEqual([
      "lock.online",
      "lock.offline",
      "lock.online",
      "lock.offline",
      "lock.online",
    ]);
  });

  // Several cloud processes share one database on PostgreSQL only (cloud/README.md "Running several processes").
  it.skipIf(!SUITE_ON_POSTGRES)(
    "a silent bridge's locks go offline once each, with two clouds on one database",
    async () => {
      const rx = await receiver();
      const br = await bridgeWithConnection(t, tn);
      await hook(rx, ["lock.online", "lock.offline"]);
      const ids = ["sim-1", "sim-2", "sim-3", "sim-4", "sim-5"];
      for (const id of ids) await reportedAndClaimed(t, tn, br, factoryLock(id));
      const reported = await t.call("POST", "/bridge/v1/ingest", {
        token: br.token,
        body: { presence: ids.map((lockId) => ({ lockId, online: true, ts: 1_800_000_000 })) },
      });
      expect(reported.status).toBe(200);
      await until("online", () => rx.got.length === ids.length);
      const second = await startTestCloud({ dataDir: t.dir, clock: t.clock, seed: "second process" });
      try {
        t.clock.advance(90_001);
        await until("offline", () => rx.got.length >= 2 * ids.length);
        // Both workers had many turns since: none announced a lock twice.
        await turns();
        const offline = ofType(rx, "lock.offline").map((g) => g.data.lockId);
        expect(offline.sort()).toEqual(ids);
        expect(rx.got).toHaveLength(2 * ids.length);
      } finally {
        await second.cloud.close();
      }
    },
  );

  it("a bridge flapping a lock's presence gets one announcement per lock per gap, the state of its end", async () => {
    const rx = await receiver();
    const br = await bridgeWithConnection(t, tn);
    await hook(rx, ["lock.online", "lock.offline"]);
    await reportedAndClaimed(t, tn, br, factoryLock("sim-1"));
    await presence(br, true, 1_800_000_000);
    await until("online", () => rx.got.length === 1);
    // 99 flaps inside the 60 s gap, ending offline: shown as reported, announced not yet.
    for (let i = 1; i <= 99; i++) {
      expect((await presence(br, i % 2 === 0, 1_800_000_000 + i)).status).toBe(200);
      t.clock.advance(500);
    }
    expect(await shown()).toBe(false);
    await turns();
    expect(rx.got).toHaveLength(1);
    t.clock.advance(11_000);
    await until("the held-back change", () => rx.got.length === 2);
    expect(rx.got[1]).toMatchObject({ type: "lock.offline", data: { online: false } });
    // Flapped back to what was announced within the next gap: nothing is news.
    await presence(br, true, 1_800_000_200);
    await presence(br, false, 1_800_000_201);
    t.clock.advance(60_000);
    await turns();
    expect(rx.got).toHaveLength(2);
  });
});

async function reportState(br: BridgeSetup, state: string, reason?: string) {
  const res = await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
    token: br.token,
    body: { state, ...(reason ? { reason } : {}) },
  });
  expect(res.status).toBe(204);
}

describe("pause and replay", () => {
  it("a paused webhook queues and sends nothing; unpaused, it sends the queue in order", async () => {
    const rx = await receiver();
    const id = await hook(rx, ["key.created"]);
    expect(
      (await t.call("PATCH", lh(tn, `/webhooks/${id}`), { token: tn.token, body: { paused: true } })).body.paused,
    ).toBe(true);
    const { lockIds } = await virtualLocks(t, tn, 1);
    const keyIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const key = await t.call("POST", lh(tn, "/keys"), {
        token: tn.token,
        body: { lockId: lockIds[0]!, userId: `+479123456${i}` },
      });
      keyIds.push(key.body.id);
      t.clock.advance(1_000);
    }
    // The worker polls every 20 ms: give it many turns, and the clock too.
    for (let i = 0; i < 10; i++) {
      t.clock.advance(60_000);
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(rx.got).toEqual([]);
    expect((await deliveries(id)).map((d) => [d.status, d.attempts])).toEqual([
      ["pending", 0],
      ["pending", 0],
      ["pending", 0],
    ]);
    await t.call("PATCH", lh(tn, `/webhooks/${id}`), { token: tn.token, body: { paused: false } });
    await until("the queue", () => rx.got.length === 3);
    expect(rx.got.map((g) => g.data.id).sort()).toEqual([...keyIds].sort());
    // Claimed oldest first (one claim takes all three here, sent at once): each left in the order it was queued.
    await until("recorded delivered", async () => (await deliveries(id)).every((d) => d.status === "delivered"));
  });

  it("pause, then unpause: the claim skips the paused queue, then takes it oldest first, before what came later", async () => {
    const { quiet, ctx, qt, lockIds } = await quietCloud();
    const webhook = async (url: string) =>
      (await quiet.call("POST", lh(qt, "/webhooks"), { token: qt.token, body: { url, eventTypes: ["key.created"] } }))
        .body.id as string;
    const paused = await webhook("https://example.com/paused");
    const other = await webhook("https://example.com/other");
    const pause = async (on: boolean) =>
      expect(
        (await quiet.call("PATCH", lh(qt, `/webhooks/${paused}`), { token: qt.token, body: { paused: on } })).status,
      ).toBe(200);
    const keyIds: string[] = [];
    const key = async () => {
      const res = await quiet.call("POST", lh(qt, "/keys"), {
        token: qt.token,
        body: { lockId: lockIds[0]!, userId: `+47912340${10 + keyIds.length}` },
      });
      keyIds.push(res.body.id);
      quiet.clock.advance(1_000);
    };
    const claim = async () => {
      const claimed = await ctx.store.transaction((tx) => tx.deliveries.claimDue(quiet.clock.now(), 100, 60_000));
      return claimed.map((d) => [d.webhookId, (JSON.parse(d.payload) as { data: { id: string } }).data.id]);
    };
    await key();
    await pause(true);
    await key();
    await key();
    // Paused: only the other webhook's deliveries are claimed, oldest first; the paused queue is left alone.
    expect(await claim()).toEqual(keyIds.map((id) => [other, id]));
    await pause(false);
    await key();
    // Unpaused: its queue as it was queued (the first from before the pause), then what was queued after.
    expect(await claim()).toEqual([...keyIds.map((id) => [paused, id]), [other, keyIds[3]]]);
  });

  it("a deleted webhook's deliveries cannot be replayed: 404, as another's", async () => {
    const rx = await receiver();
    const id = await hook(rx, ["key.created"]);
    const { lockIds } = await virtualLocks(t, tn, 1);
    await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId: lockIds[0]!, userId: "+4791234567" } });
    await until("delivered", async () => (await deliveries(id)).some((d) => d.status === "delivered"));
    const delivery = (await deliveries(id))[0]!;
    expect((await t.call("DELETE", lh(tn, `/webhooks/${id}`), { token: tn.token })).status).toBeLessThan(300);
    const one = await t.call("POST", lh(tn, `/webhooks/${id}/deliveries/${delivery.id}/replay`), { token: tn.token });
    expect(one.status).toBe(404);
    expect(one.body.errorDescription).toContain("webhook");
    const since = new Date(t.clock.now() - 86_400_000).toISOString();
    expect((await t.call("POST", lh(tn, `/webhooks/${id}/replay`), { token: tn.token, body: { since } })).status).toBe(
      404,
    );
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 25));
    expect(rx.got).toHaveLength(1);
  });

  it("replays one delivery, or the failed ones since a time, with the same webhook-id", async () => {
    const rx = await receiver();
    rx.status = 503;
    const id = await hook(rx, ["key.created"]);
    const { lockIds } = await virtualLocks(t, tn, 1);
    for (let i = 0; i < 2; i++) {
      await t.call("POST", lh(tn, "/keys"), {
        token: tn.token,
        body: { lockId: lockIds[0]!, userId: `+47912345${60 + i}` },
      });
    }
    for (let attempt = 1; attempt <= 5; attempt++) {
      await until(`attempt ${attempt}`, async () => (await deliveries(id)).every((d) => d.attempts === attempt));
      t.clock.advance(60_001);
    }
    const failed = await deliveries(id);
    expect(failed.map((d) => d.status)).toEqual(["failed", "failed"]);
    rx.status = 204;
    const one = await t.call("POST", lh(tn, `/webhooks/${id}/deliveries/${failed[1]!.id}/replay`), { token: tn.token });
    expect(one.status).toBe(202);
    expect(one.body).toMatchObject({ id: failed[1]!.id, status: "pending", attempts: 0 });
    await until("the replay", () => rx.got.length === 1);
    expect(rx.got[0]!.id).toBe(failed[1]!.id);
    const since = new Date(t.clock.now() - 86_400_000).toISOString();
    const all = await t.call("POST", lh(tn, `/webhooks/${id}/replay`), { token: tn.token, body: { since } });
    expect(all).toMatchObject({ status: 202, body: { replayed: 1 } });
    await until("the other replay", () => rx.got.length === 2);
    expect(rx.got[1]!.id).toBe(failed[0]!.id);
    // A delivered one may be replayed (a receiver that lost it); a pending one is answered as it is; another
    // webhook's is 404.
    await until("delivered", async () => (await deliveries(id)).every((d) => d.status === "delivered"));
    const again = await t.call("POST", lh(tn, `/webhooks/${id}/deliveries/${failed[0]!.id}/replay`), {
      token: tn.token,
    });
    expect(again.status).toBe(202);
    const pausedId = await hook(await receiver(), ["key.created"]);
    await t.call("PATCH", lh(tn, `/webhooks/${pausedId}`), { token: tn.token, body: { paused: true } });
    await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId: lockIds[0]!, userId: "+4791234599" } });
    const pending = (await deliveries(pausedId))[0]!;
    const asIs = await t.call("POST", lh(tn, `/webhooks/${pausedId}/deliveries/${pending.id}/replay`), {
      token: tn.token,
    });
    expect(asIs).toMatchObject({ status: 202, body: { id: pending.id, status: "pending", attempts: 0 } });
    expect(
      (await t.call("POST", lh(tn, `/webhooks/${id}/deliveries/${pending.id}/replay`), { token: tn.token })).status,
    ).toBe(404);
    expect(
      (await t.call("POST", lh(tn, `/webhooks/${id}/replay`), { token: tn.token, body: { since: "yesterday" } }))
        .status,
    ).toBe(400);
  });
});

describe("batch job outcome", () => {
  it("partly failed: state, per-item errors with the 403's reason code, and batch_job.finished", async () => {
    const rx = await receiver();
    await hook(rx, ["batch_job.finished"]);
    const good = await bridgeWithConnection(t, tn);
    const broken = await bridgeWithConnection(t, tn, "site-b", "pw-b");
    await reportedAndClaimed(t, tn, good, factoryLock("sim-ok"));
    await reportedAndClaimed(t, tn, broken, factoryLock("sim-broken"));
    await reportState(broken, "error", "invalid vendor credentials");
    const single = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: "sim-broken", userId: "+4791234567" },
    });
    expect(single.status).toBe(403);
    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: {
        keys: [
          { lockId: "sim-ok", userId: "+4791234567" },
          { lockId: "sim-broken", userId: "+4791234567" },
        ],
      },
    });
    expect(batch.status).toBe(202);
    const job = await until("the job", async () => {
      const j = await t.call("GET", `/integrators/v1/jobs/${batch.body.jobId}`, { token: tn.token });
      return j.body.state !== "inProgress" && j.body;
    });
    expect(job).toMatchObject({ status: "succeeded", state: "partiallyFailed", total: 2, done: 2 });
    expect(job.errors).toEqual([
      {
        index: 1,
        keyId: job.results[1].keyId,
        code: "vendor_connection_error",
        message: single.body.errorDescription,
      },
    ]);
    await until("batch_job.finished", () => rx.got.length === 1);
    expect(rx.got[0]).toMatchObject({
      type: "batch_job.finished",
      data: { id: batch.body.jobId, state: "partiallyFailed" },
    });
    expect(rx.got[0]!.data.errors).toEqual(job.errors);
  });

  it("completed when every item was created", async () => {
    const rx = await receiver();
    await hook(rx, ["batch_job.finished", "key.created"]);
    const { lockIds } = await virtualLocks(t, tn, 1);
    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: {
        keys: [
          { lockId: lockIds[0]!, userId: "+4791234567" },
          { lockId: lockIds[0]!, userId: "+4791234568" },
        ],
      },
    });
    // Both: deliveries claimed together are sent at once, so the keys' may arrive after the job's.
    await until(
      "finished",
      () => ofType(rx, "batch_job.finished").length === 1 && ofType(rx, "key.created").length === 2,
    );
    expect(ofType(rx, "batch_job.finished")[0]!.data).toMatchObject({
      state: "completed",
      status: "succeeded",
      errors: [],
    });
    expect(
      ofType(rx, "key.created")
        .map((g) => g.data.id)
        .sort(),
    ).toEqual(
      (await t.call("GET", `/integrators/v1/jobs/${batch.body.jobId}`, { token: tn.token })).body.results
        .map((r: { keyId: string }) => r.keyId)
        .sort(),
    );
  });
});
