import { describe, expect, it } from "vitest";
import {
  bridgeWithConnection,
  lh,
  type Tenant,
  type TestCloud,
  tenant,
  tenantSiteEach,
  virtualLocks,
} from "./helpers.js";
import { claimedLock, sendReports, telemetryReport } from "./lock.js";

let t: TestCloud;
let tn: Tenant;

tenantSiteEach({}, (s) => {
  ({ t, tn } = s);
});

describe("changelog 3: lock address can be removed, partial updates work", () => {
  it("sets, merges, removes single fields and removes the whole address", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    const url = lh(tn, `/locks/${lockIds[0]!}`);
    const set = await t.call("PATCH", url, {
      token: tn.token,
      body: { address: { street: "Storgata 1", postalCode: "0155", city: "Oslo", countryIso: "NO", floor: "3" } },
    });
    expect(set.status).toBe(200);
    expect(set.body.address).toEqual({
      street: "Storgata 1",
      postalCode: "0155",
      city: "Oslo",
      countryIso: "NO",
      floor: "3",
    });
    const partial = await t.call("PATCH", url, {
      token: tn.token,
      body: { address: { street: "Storgata 3", floor: null } },
    });
    expect(partial.body.address).toEqual({ street: "Storgata 3", postalCode: "0155", city: "Oslo", countryIso: "NO" });
    const renamed = await t.call("PATCH", url, { token: tn.token, body: { name: "Front door" } });
    expect(renamed.body).toMatchObject({ name: "Front door", address: { street: "Storgata 3" } });
    const removed = await t.call("PATCH", url, { token: tn.token, body: { address: null } });
    expect(removed.status).toBe(200);
    expect(removed.body.address).toBeNull();
    expect((await t.call("GET", url, { token: tn.token })).body.address).toBeNull();
  });

  it("refuses unknown address fields and bad values", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    const url = lh(tn, `/locks/${lockIds[0]!}`);
    expect((await t.call("PATCH", url, { token: tn.token, body: { address: { planet: "Mars" } } })).status).toBe(400);
    expect((await t.call("PATCH", url, { token: tn.token, body: { address: { countryIso: "Norway" } } })).status).toBe(
      400,
    );
    expect((await t.call("PATCH", url, { token: tn.token, body: { imageUrl: "javascript:alert(1)" } })).status).toBe(
      400,
    );
  });

  it("lists locks sorted by name or created, both orders, paginated", async () => {
    const { lockIds } = await virtualLocks(t, tn, 3);
    await t.call("PATCH", lh(tn, `/locks/${lockIds[0]!}`), { token: tn.token, body: { name: "C" } });
    await t.call("PATCH", lh(tn, `/locks/${lockIds[1]!}`), { token: tn.token, body: { name: "A" } });
    await t.call("PATCH", lh(tn, `/locks/${lockIds[2]!}`), { token: tn.token, body: { name: "B" } });
    const names = async (q: string) =>
      (await t.call("GET", lh(tn, `/locks?${q}`), { token: tn.token })).body.locks.map((l: { name: string }) => l.name);
    expect(await names("sort=name")).toEqual(["A", "B", "C"]);
    expect(await names("sort=name&order=desc")).toEqual(["C", "B", "A"]);
    const first = await t.call("GET", lh(tn, "/locks?sort=name&limit=2"), { token: tn.token });
    expect(first.body.locks.map((l: { name: string }) => l.name)).toEqual(["A", "B"]);
    expect(first.body.startAfterId).toBe(lockIds[2]!);
    const second = await t.call("GET", lh(tn, `/locks?sort=name&limit=2&startAfterId=${first.body.startAfterId}`), {
      token: tn.token,
    });
    expect(second.body.locks.map((l: { name: string }) => l.name)).toEqual(["C"]);
    expect(second.body.startAfterId).toBeUndefined();
    expect((await t.call("GET", lh(tn, "/locks?sort=size"), { token: tn.token })).status).toBe(400);
  });
});

describe("changelog 4: get a single vendor connection, refresh, update-password, delete, virtual vendor", () => {
  it("virtual: connected at once with its locks; refresh keeps it connected", async () => {
    const created = await t.call("POST", lh(tn, "/vendor-connections"), {
      token: tn.token,
      body: { vendor: "virtual", locksToCreate: 4 },
    });
    expect(created.status).toBe(201);
    const vc = created.body.vendorConnection;
    expect(vc).toMatchObject({ vendor: "virtual", state: "connected" });
    const got = await t.call("GET", lh(tn, `/vendor-connections/${vc.id}`), { token: tn.token });
    expect(got.body.vendorConnection.id).toBe(vc.id);
    const locks = await t.call("GET", lh(tn, "/locks"), { token: tn.token });
    expect(locks.body.locks).toHaveLength(4);
    for (const l of locks.body.locks) expect(l.id).toMatch(/^virtual-[0-9a-f]{12}$/);
    const refreshed = await t.call("PUT", lh(tn, `/vendor-connections/${vc.id}/refresh`), { token: tn.token });
    expect(refreshed.body.vendorConnection.state).toBe("connected");
    expect(
      (
        await t.call("PUT", lh(tn, `/vendor-connections/${vc.id}/update-password`), {
          token: tn.token,
          body: { password: "x" },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await t.call("POST", lh(tn, "/vendor-connections"), {
          token: tn.token,
          body: { vendor: "virtual", locksToCreate: 101 },
        })
      ).status,
    ).toBe(400);
  });

  it("sim: connecting until the bridge reports; refresh → refreshing; update-password → connecting; delete", async () => {
    const br = await bridgeWithConnection(t, tn);
    const url = lh(tn, `/vendor-connections/${br.vcId}`);
    expect((await t.call("GET", url, { token: tn.token })).body.vendorConnection.state).toBe("connecting");
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
      token: br.token,
      body: { state: "connected" },
    });
    expect((await t.call("GET", url, { token: tn.token })).body.vendorConnection.state).toBe("connected");
    expect((await t.call("PUT", `${url}/refresh`, { token: tn.token })).body.vendorConnection.state).toBe("refreshing");
    const pw = await t.call("PUT", `${url}/update-password`, { token: tn.token, body: { password: "new" } });
    expect(pw.body.vendorConnection.state).toBe("connecting");
    expect(JSON.stringify(pw.body)).not.toContain("new");
    const del = await t.call("DELETE", url, { token: tn.token });
    expect(del.status).toBe(200);
    expect(del.body.vendorConnection).toMatchObject({ id: br.vcId, state: "disconnected" });
    const list = await t.call("GET", lh(tn, "/vendor-connections"), { token: tn.token });
    expect(list.body.vendorConnections).toEqual([]);
  });

  it("a deleted connection still reads as disconnected, to its lock holder only, and takes nothing more", async () => {
    const br = await bridgeWithConnection(t, tn);
    const url = lh(tn, `/vendor-connections/${br.vcId}`);
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
      token: br.token,
      body: { state: "connected" },
    });
    const del = await t.call("DELETE", url, { token: tn.token });
    expect(del.body.vendorConnection.state).toBe("disconnected");
    const read = await t.call("GET", url, { token: tn.token });
    expect(read.status).toBe(200);
    expect(read.body.vendorConnection).toEqual(del.body.vendorConnection);
    // Another tenant cannot read it (the same 404 as for a live one).
    const other = await tenant(t, "Other");
    expect((await t.call("GET", lh(other, `/vendor-connections/${br.vcId}`), { token: other.token })).status).toBe(404);
    // Nothing changes it any more: not its lock holder, nor its bridge reporting it up again.
    expect((await t.call("DELETE", url, { token: tn.token })).status).toBe(404);
    expect((await t.call("PUT", `${url}/refresh`, { token: tn.token })).status).toBe(404);
    const pw = await t.call("PUT", `${url}/update-password`, { token: tn.token, body: { password: "again" } });
    expect(pw.status).toBe(404);
    const lied = await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
      token: br.token,
      body: { state: "connected" },
    });
    expect(lied.status).toBe(404);
    expect((await t.call("GET", url, { token: tn.token })).body.vendorConnection.state).toBe("disconnected");
  });

  it("sim needs a bridge of this lock holder", async () => {
    const res = await t.call("POST", lh(tn, "/vendor-connections"), {
      token: tn.token,
      body: { vendor: "sim", username: "u", password: "p", bridgeId: "br_unknown" },
    });
    expect(res.status).toBe(400);
    expect(res.body.errorDescription).toContain("bridgeId");
    const missing = await t.call("POST", lh(tn, "/vendor-connections"), {
      token: tn.token,
      body: { vendor: "sim", username: "u", password: "p" },
    });
    expect(missing.status).toBe(400);
  });

  it("deleting a connection offboards its locks and revokes their keys", async () => {
    const { vcId, lockIds } = await virtualLocks(t, tn, 1);
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567" },
    });
    await t.call("DELETE", lh(tn, `/vendor-connections/${vcId}`), { token: tn.token });
    expect((await t.call("GET", lh(tn, `/locks/${lockIds[0]!}`), { token: tn.token })).status).toBe(404);
    expect((await t.call("GET", lh(tn, `/keys/${key.body.id}`), { token: tn.token })).body.state).toBe("revoked");
  });
});

describe("changelog 10: duplicate vendor credentials → 409", () => {
  it("refuses a second connection with the same credentials and leaves the first untouched", async () => {
    const br = await bridgeWithConnection(t, tn, "site-a", "secret-a");
    await t.call("PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, {
      token: br.token,
      body: { state: "connected" },
    });
    const dup = await t.call("POST", lh(tn, "/vendor-connections"), {
      token: tn.token,
      body: { vendor: "sim", username: "site-a", password: "secret-a", bridgeId: br.bridgeId },
    });
    expect(dup.status).toBe(409);
    expect(dup.body.errorDescription).toContain(br.vcId);
    const first = await t.call("GET", lh(tn, `/vendor-connections/${br.vcId}`), { token: tn.token });
    expect(first.body.vendorConnection.state).toBe("connected");
    const list = await t.call("GET", lh(tn, "/vendor-connections"), { token: tn.token });
    expect(list.body.vendorConnections).toHaveLength(1);
    // Another password, or another vendor, is another account.
    const other = await t.call("POST", lh(tn, "/vendor-connections"), {
      token: tn.token,
      body: { vendor: "sim", username: "site-a", password: "secret-b", bridgeId: br.bridgeId },
    });
    expect(other.status).toBe(201);
    const ble = await t.call("POST", lh(tn, "/vendor-connections"), {
      token: tn.token,
      body: { vendor: "ble", username: "site-a", password: "secret-a", bridgeId: br.bridgeId },
    });
    expect(ble.status).toBe(201);
    // update-password onto credentials in use → 409 too
    const clash = await t.call("PUT", lh(tn, `/vendor-connections/${other.body.vendorConnection.id}/update-password`), {
      token: tn.token,
      body: { password: "secret-a" },
    });
    expect(clash.status).toBe(409);
    // a deleted connection's credentials are free again
    await t.call("DELETE", lh(tn, `/vendor-connections/${br.vcId}`), { token: tn.token });
    const again = await t.call("POST", lh(tn, "/vendor-connections"), {
      token: tn.token,
      body: { vendor: "sim", username: "site-a", password: "secret-a", bridgeId: br.bridgeId },
    });
    expect(again.status).toBe(201);
  });
});

describe("changelog 10 under concurrency", () => {
  it("two creates with the same credentials at once: one 201, one 409", async () => {
    const br = await t.call("POST", lh(tn, "/bridges"), { token: tn.token, body: { name: "gw" } });
    const create = () =>
      t.call("POST", lh(tn, "/vendor-connections"), {
        token: tn.token,
        body: { vendor: "sim", username: "site-z", password: "secret-z", bridgeId: br.body.bridgeId },
      });
    const answers = await Promise.all([create(), create()]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    const list = await t.call("GET", lh(tn, "/vendor-connections"), { token: tn.token });
    expect(list.body.vendorConnections).toHaveLength(1);
  });
});

describe("changelog 14: lock battery status", () => {
  it("every lock carries battery (null until telemetry) and online, fed by bridge telemetry", async () => {
    const br = await bridgeWithConnection(t, tn);
    const lock = await claimedLock(t, tn, br, "sim-1", { name: "Door" });
    const before = await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token });
    expect(before.body).toMatchObject({ battery: null, online: false });
    // Battery from the lock's sealed telemetry; presence on the bridge's word.
    await sendReports(t, br, lock, [telemetryReport(lock, 15, 1_800_000_000, undefined, { mv: 2500, state: "low" })]);
    const presence = await t.call("POST", "/bridge/v1/ingest", {
      token: br.token,
      body: { presence: [{ lockId: "sim-1", online: true, ts: 1_800_000_000 }] },
    });
    expect(presence.status).toBe(200);
    const after = await t.call("GET", lh(tn, "/locks/sim-1"), { token: tn.token });
    expect(after.body.battery).toEqual({ level: 15, state: "low", updatedAt: "2027-01-15T08:00:00.000Z" });
    expect(after.body.online).toBe(true);
    // An older reading arriving late does not overwrite a newer one.
    await sendReports(t, br, lock, [telemetryReport(lock, 90, 1_799_999_000, undefined, { mv: 3000 })]);
    const list = await t.call("GET", lh(tn, "/locks"), { token: tn.token });
    expect(list.body.locks[0].battery.level).toBe(15);
    const { lockIds } = await virtualLocks(t, tn, 1);
    const virtual = await t.call("GET", lh(tn, `/locks/${lockIds[0]!}`), { token: tn.token });
    // Virtual locks simulate a battery (issue 14; cloud/test/api-virtual-battery.test.ts).
    expect(virtual.body.battery).toMatchObject({ state: "ok", updatedAt: "2027-01-15T08:00:00.000Z" });
    expect(virtual.body.online).toBe(true);
  });
});
