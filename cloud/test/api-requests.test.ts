import { parseRfc3339 } from "@latchkey/protocol/contracts";
import { describe, expect, it } from "vitest";
import { lh, type Tenant, type TestCloud, tenantSiteEach, virtualLocks } from "./helpers.js";

/** Issue 14, "Refused what clients send": what real client code sends is taken. */

let t: TestCloud;
let tn: Tenant;

tenantSiteEach({}, (s) => {
  ({ t, tn } = s);
});

/** RFC 6749 appendix B: each part form-encoded, then joined with ":" and base64'd (what simple-oauth2 sends). */
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

describe("RFC 3339 times with fractions of a second, any offset", () => {
  it("parses exactly, beyond milliseconds, and refuses what is not a date-time", () => {
    expect(parseRfc3339("2030-01-01T08:00:00Z")).toEqual({ seconds: 1_893_484_800, fraction: false });
    expect(parseRfc3339("2030-01-01T08:00:00.000Z")).toEqual({ seconds: 1_893_484_800, fraction: false });
    // Date.parse reads milliseconds at most: 100 ns past the second would be lost, and an end rounded up would not move.
    expect(parseRfc3339("2030-01-01T08:00:00.0000001Z")).toEqual({ seconds: 1_893_484_800, fraction: true });
    expect(parseRfc3339("2030-01-01t09:30:00.5+01:30")).toEqual({ seconds: 1_893_484_800, fraction: true });
    expect(parseRfc3339("2030-01-01T08:00:00-00:00")).toEqual({ seconds: 1_893_484_800, fraction: false });
    expect(parseRfc3339("2016-12-31T23:59:60Z")).toEqual({ seconds: 1_483_228_800, fraction: false });
    expect(parseRfc3339("2028-02-29T00:00:00Z")?.seconds).toBe(1_835_395_200);
    for (const bad of [
      "2030-02-29T00:00:00Z",
      "2030-13-01T00:00:00Z",
      "2030-01-01T24:00:00Z",
      "2030-01-01T08:00:61Z",
      "2030-01-01T08:00:00+24:00",
      "2030-01-01T08:00:00",
      "2030-01-01 08:00:00Z",
      "2030-01-01T08:00:00.Z",
      "1893484800",
    ]) {
      expect(parseRfc3339(bad), bad).toBeUndefined();
    }
  });

  it("a key's start is rounded down and its end up to whole seconds, on every create route", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    const lockId = lockIds[0]!;
    const onLock = await t.call("POST", lh(tn, `/locks/${lockId}/keys`), {
      token: tn.token,
      body: { userId: "+4791234567", start: "2030-01-01T08:00:00.999Z", end: "2030-01-01T09:00:00.001Z" },
    });
    expect(onLock.status, JSON.stringify(onLock.body)).toBe(201);
    expect(onLock.body).toMatchObject({ start: "2030-01-01T08:00:00.000Z", end: "2030-01-01T09:00:01.000Z" });

    const withOffset = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: {
        lockId,
        userId: "+4791234567",
        start: "2030-01-01t09:00:00.5+01:00",
        end: "2030-01-01T10:00:00.0000001+01:00",
      },
    });
    expect(withOffset.status, JSON.stringify(withOffset.body)).toBe(201);
    expect(withOffset.body).toMatchObject({ start: "2030-01-01T08:00:00.000Z", end: "2030-01-01T09:00:01.000Z" });

    // durationMinutes counts from the rounded start.
    const duration = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId, userId: "+4791234567", start: "2030-01-01T08:00:00.750Z", durationMinutes: 60 },
    });
    expect(duration.body).toMatchObject({ start: "2030-01-01T08:00:00.000Z", end: "2030-01-01T09:00:00.000Z" });

    // What `new Date().toISOString()` sends for "now": an end a fraction ahead is rounded up, not refused.
    const now = new Date(t.clock.now() + 1).toISOString();
    expect(now).toMatch(/\.001Z$/);
    const fromNow = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId, userId: "+4791234567", start: now, end: new Date(t.clock.now() + 90_500).toISOString() },
    });
    expect(fromNow.status, JSON.stringify(fromNow.body)).toBe(201);
    expect(Date.parse(fromNow.body.start)).toBe(t.clock.now());
    expect(Date.parse(fromNow.body.end)).toBe(t.clock.now() + 91_000);

    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: {
        keys: [{ lockId, userId: "+4791234567", start: "2030-01-01T08:00:00.1Z", end: "2030-01-02T08:00:00.1Z" }],
      },
    });
    expect(batch.status).toBe(202);
  });

  it("an impossible date is a 400 naming the field; the schema says how times are rounded", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    for (const [field, value] of [
      ["start", "2030-02-30T08:00:00Z"],
      ["end", "2030-01-01T08:00:00.5"],
    ] as const) {
      const res = await t.call("POST", lh(tn, `/locks/${lockIds[0]}/keys`), {
        token: tn.token,
        body: { userId: "+4791234567", [field]: value },
      });
      expect(res.status).toBe(400);
      expect(res.body.errorDescription).toContain(`body.${field}: must be an RFC 3339 date-time`);
    }
    const doc = (await t.call("GET", "/docs/json")).body;
    const body =
      doc.paths["/integrators/v1/lock-holders/{lockHolderId}/keys"].post.requestBody.content["application/json"].schema;
    expect(body.properties.start.description).toContain("rounded down to the whole second");
    expect(body.properties.end.description).toContain("rounded up to the whole second");
  });
});

describe("POST /auth/v1/token with HTTP Basic client authentication (RFC 6749 section 2.3.1)", () => {
  it("grants a token to Basic credentials, form-encoded before base64 as the RFC says", async () => {
    const res = await t.call("POST", "/auth/v1/token", {
      headers: { authorization: basic(tn.clientId, tn.clientSecret) },
      body: { grant_type: "client_credentials", scope: "integrator.admin" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ token_type: "bearer", scope: "integrator.admin" });
    const me = await t.call("GET", `/integrators/v1/integrator/${tn.integratorId}`, { token: res.body.access_token });
    expect(me.status).toBe(200);

    // As a form body, and with characters a client library percent-encodes (%5F is "_").
    const encodedId = tn.clientId.replace("_", "%5F");
    const form = await t.call("POST", "/auth/v1/token", {
      headers: {
        authorization: `basic ${Buffer.from(`${encodedId}:${tn.clientSecret}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      raw: `grant_type=client_credentials&scope=lockHolder.admin%3A${tn.lockHolderId}`,
    });
    expect(form.status, JSON.stringify(form.body)).toBe(200);
    expect(form.body.scope).toBe(`lockHolder.admin:${tn.lockHolderId}`);
  });

  it("refuses credentials sent both ways (400), wrong ones with 401 and WWW-Authenticate: Basic, malformed ones by name", async () => {
    const both = await t.call("POST", "/auth/v1/token", {
      headers: { authorization: basic(tn.clientId, tn.clientSecret) },
      body: { client_id: tn.clientId, client_secret: tn.clientSecret, scope: "integrator.admin" },
    });
    expect(both.status).toBe(400);
    expect(both.body).toMatchObject({ error: "invalid_request" });
    expect(both.body.errorDescription).toContain("use one method");
    const idOnly = await t.call("POST", "/auth/v1/token", {
      headers: { authorization: basic(tn.clientId, tn.clientSecret) },
      body: { client_id: tn.clientId, scope: "integrator.admin" },
    });
    expect(idOnly.status).toBe(400);

    const wrong = await t.call("POST", "/auth/v1/token", {
      headers: { authorization: basic(tn.clientId, "not-the-secret") },
      body: { scope: "integrator.admin" },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe("invalid_client");
    expect(wrong.headers["www-authenticate"]).toBe('Basic realm="latchkey"');
    expect(JSON.stringify(wrong.body)).not.toContain("not-the-secret");

    const none = await t.call("POST", "/auth/v1/token", { body: { scope: "integrator.admin" } });
    expect(none.status).toBe(401);
    expect(none.body.error).toBe("invalid_client");
    const half = await t.call("POST", "/auth/v1/token", {
      body: { client_id: tn.clientId, scope: "integrator.admin" },
    });
    expect(half.status).toBe(400);
    expect(half.body.errorDescription).toBe("body.client_secret: is required");

    for (const [header, says] of [
      [`Basic ${Buffer.from("no-colon").toString("base64")}`, "client_id:client_secret"],
      ["Basic not*base64", "client_id:client_secret"],
      ["Basic", "client_id:client_secret"],
      [`Basic ${Buffer.from("cl_%zz:x").toString("base64")}`, "not form-encoded"],
      [`Basic ${Buffer.from([0x63, 0x3a, 0xff]).toString("base64")}`, "not UTF-8"],
    ] as const) {
      const res = await t.call("POST", "/auth/v1/token", {
        headers: { authorization: header },
        body: { scope: "integrator.admin" },
      });
      expect(res.status, header).toBe(400);
      expect(res.body.errorDescription).toContain(says);
    }
  });

  it("the OpenAPI document lists both body types and Basic as the token route's security", async () => {
    const doc = (await t.call("GET", "/docs/json")).body;
    const op = doc.paths["/auth/v1/token"].post;
    expect(Object.keys(op.requestBody.content).sort()).toEqual([
      "application/json",
      "application/x-www-form-urlencoded",
    ]);
    expect(op.security).toEqual([{}, { clientBasic: [] }]);
    expect(doc.components.securitySchemes.clientBasic).toMatchObject({ type: "http", scheme: "basic" });
    expect(op.requestBody.content["application/json"].schema.required).toEqual(["scope"]);
  });
});

describe("a JSON content type with no body is an empty body", () => {
  it("PUT …/refresh and other bodiless PUT/POST take it; a route that needs fields names body", async () => {
    const { vcId, lockIds } = await virtualLocks(t, tn, 1);
    const json = { "content-type": "application/json" };
    const refresh = await t.call("PUT", lh(tn, `/vendor-connections/${vcId}/refresh`), {
      token: tn.token,
      headers: json,
    });
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(200);
    expect(refresh.body.vendorConnection.state).toBe("connected");
    const rotate = await t.call("POST", lh(tn, "/issuer-keys/rotate"), { token: tn.token, headers: json });
    expect(rotate.status, JSON.stringify(rotate.body)).toBe(201);
    const bridge = await t.call("POST", lh(tn, "/bridges"), { token: tn.token, headers: json });
    expect(bridge.status, JSON.stringify(bridge.body)).toBe(201);

    const key = await t.call("POST", lh(tn, `/locks/${lockIds[0]}/keys`), { token: tn.token, headers: json });
    expect(key.status).toBe(400);
    expect(key.body.error).toBe("invalid_request");
    expect(key.body.errorDescription).toMatch(/^body/);
    // A body that is there but empty of JSON is still malformed.
    const blank = await t.call("PUT", lh(tn, `/vendor-connections/${vcId}/refresh`), {
      token: tn.token,
      headers: json,
      raw: " ",
    });
    expect(blank.status).toBe(400);
    expect(blank.body.error).toBe("malformed_json");
  });
});
