import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, lh, startTestCloud, type Tenant, type TestCloud, tenant, virtualLocks } from "./helpers.js";

let t: TestCloud;
let tn: Tenant;
let lockId: string;

beforeAll(async () => {
  t = await startTestCloud();
  tn = await tenant(t);
  lockId = (await virtualLocks(t, tn, 1)).lockIds[0]!;
});
afterAll(closeAll);

const keysUrl = () => lh(tn, `/locks/${lockId}/keys`);

describe("bad input → 4xx with {error, errorDescription}, never a 500", () => {
  it("malformed JSON → 400 malformed_json", async () => {
    for (const raw of ['{"userId": "+4791234567"', "nope", "", "[", '{"a":1}}']) {
      const res = await t.call("POST", keysUrl(), {
        token: tn.token,
        raw,
        headers: { "content-type": "application/json" },
      });
      expect(res.status, raw).toBe(400);
      expect(Object.keys(res.body).sort()).toEqual(["error", "errorDescription"]);
    }
  });

  it("unknown fields → 400 naming the field", async () => {
    const res = await t.call("POST", keysUrl(), { token: tn.token, body: { userId: "+4791234567", admin: true } });
    expect(res.status).toBe(400);
    expect(res.body.errorDescription).toContain("admin");
    const nested = await t.call("PATCH", lh(tn, `/locks/${lockId}`), {
      token: tn.token,
      body: { address: { street: "x", evil: 1 } },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.errorDescription).toContain("evil");
  });

  it("wrong types → 400 (no coercion of body values)", async () => {
    for (const body of [
      { userId: 4791234567 },
      { userId: "+4791234567", durationMinutes: "60" },
      { userId: "+4791234567", durationMinutes: 1.5 },
      { userId: "+4791234567", start: "tomorrow" },
      { userId: "+4791234567", skipInviteNotification: "yes" },
      [],
      "text",
      null,
    ]) {
      const res = await t.call("POST", keysUrl(), { token: tn.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });

  it("prototype pollution attempts → 400", async () => {
    const res = await t.call("POST", keysUrl(), {
      token: tn.token,
      raw: '{"userId":"+4791234567","__proto__":{"admin":true}}',
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
  });

  it("bodies nested deeper than 32 levels → 400 naming the limit, not a stack overflow", async () => {
    for (const depth of [33, 5_000]) {
      const metadata = `${'{"a":'.repeat(depth - 1)}1${"}".repeat(depth - 1)}`;
      const res = await t.call("POST", keysUrl(), {
        token: tn.token,
        raw: `{"userId":"+4791234567","metadata":${metadata}}`,
        headers: { "content-type": "application/json" },
      });
      expect(res.status, String(depth)).toBe(400);
      expect(res.body.errorDescription).toBe("body: nests deeper than 32 levels");
    }
  });

  it("oversized bodies → 413", async () => {
    const res = await t.call("POST", keysUrl(), {
      token: tn.token,
      body: { userId: "+4791234567", metadata: { x: "y".repeat(300_000) } },
    });
    expect(res.status).toBe(413);
    expect(res.body.error).toBe("payload_too_large");
  });

  it("not JSON → 415", async () => {
    const res = await t.call("POST", keysUrl(), {
      token: tn.token,
      raw: "userId=1",
      headers: { "content-type": "text/plain" },
    });
    expect(res.status).toBe(415);
  });

  it("bad ids → 404", async () => {
    for (const url of [
      "/integrators/v1/lock-holders/lh_nope",
      "/integrators/v1/lock-holders/'%20OR%201=1--",
      lh(tn, "/locks/%00"),
      lh(tn, "/keys/key_x"),
      lh(tn, "/vendor-connections/vc_x"),
      "/integrators/v1/jobs/job_x",
      "/integrators/v1/nothing-here",
    ]) {
      const res = await t.call("GET", url, { token: tn.token });
      expect(res.status, url).toBe(404);
      expect(res.body.error).toBe("not_found");
    }
  });

  it("a NUL character (U+0000): 400 naming the field in a body or query, 404 in an id; nothing stored", async () => {
    const lockHolders = async () =>
      (await t.call("GET", "/integrators/v1/lock-holders", { token: tn.token })).body.lockHolders.length;
    const before = await lockHolders();
    const cases: [string, string, unknown, string][] = [
      ["POST", "/integrators/v1/lock-holders", { name: "A\u0000B" }, "body.name"],
      ["PATCH", lh(tn, `/locks/${lockId}`), { address: { street: "x\u0000" } }, "body.address.street"],
      ["POST", keysUrl(), { userId: "+4791234567", metadata: { "k\u0000": 1 } }, "body.metadata.k"],
      ["GET", lh(tn, "/keys?startAfterId=key_%00"), undefined, "query.startAfterId"],
    ];
    for (const [method, url, body, field] of cases) {
      const res = await t.call(method, url, { token: tn.token, ...(body === undefined ? {} : { body }) });
      expect(res.status, url).toBe(400);
      expect(res.body.errorDescription).toContain(field);
      expect(res.body.errorDescription).toContain("NUL");
    }
    expect(await lockHolders()).toBe(before);
    const id = await t.call("GET", lh(tn, "/keys/key_%00x"), { token: tn.token });
    expect(id.status).toBe(404);
  });

  it("bad pagination → 400", async () => {
    for (const q of ["limit=0", "limit=-1", "limit=2501", "limit=1.5", "limit=abc", "startAfterId=", "unknown=1"]) {
      const res = await t.call("GET", lh(tn, `/keys?${q}`), { token: tn.token });
      expect(res.status, q).toBe(400);
    }
    const unknownCursor = await t.call("GET", lh(tn, "/locks?sort=name&startAfterId=not-a-lock"), { token: tn.token });
    expect(unknownCursor.status).toBe(400);
  });

  it("arbitrary JSON bodies never produce a 5xx, and nothing half-written", async () => {
    const before = (await t.call("GET", lh(tn, "/keys"), { token: tn.token })).body.keys.length;
    let created = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            userId: fc.oneof(fc.string(), fc.constant("+4791234567"), fc.integer()),
            start: fc.oneof(
              fc.constant(null),
              fc.string(),
              fc.date({ min: new Date(1e12), max: new Date(2e12), noInvalidDate: true }).map((d) => d.toISOString()),
            ),
            end: fc.oneof(
              fc.constant(null),
              fc.string(),
              fc.date({ min: new Date(1e12), max: new Date(2e12), noInvalidDate: true }).map((d) => d.toISOString()),
            ),
            durationMinutes: fc.oneof(fc.integer(), fc.double(), fc.string()),
            metadata: fc.oneof(fc.object(), fc.jsonValue()),
            extra: fc.jsonValue(),
          },
          { requiredKeys: [] },
        ),
        async (body) => {
          const res = await t.call("POST", keysUrl(), { token: tn.token, body });
          expect(res.status).toBeLessThan(500);
          if (res.status === 201) created++;
          else expect(typeof res.body.errorDescription).toBe("string");
        },
      ),
      { numRuns: 150, seed: 42 },
    );
    const after = (await t.call("GET", lh(tn, "/keys"), { token: tn.token })).body.keys.length;
    expect(after - before).toBe(created);
  });
});

describe("issue 15 item 11: an error says what was expected", () => {
  it("an invalid date names the field and the format expected, not the schema's union", async () => {
    for (const [field, value] of [
      ["start", "tomorrow"],
      ["end", "2026-12-07T10:00:00"],
      ["start", 5],
      ["end", "2026-13-07T10:00:00Z"],
    ] as const) {
      const res = await t.call("POST", keysUrl(), { token: tn.token, body: { userId: "+4791234567", [field]: value } });
      expect(res.status, `${field}=${value}`).toBe(400);
      expect(res.body.errorDescription).toBe(
        `body.${field}: must be an RFC 3339 date-time with offset, e.g. 2026-12-07T10:00:00Z, or null`,
      );
    }
  });

  it("a batch over the limit names the limit", async () => {
    const keys = Array.from({ length: 1001 }, () => ({ lockId, userId: "+4791234567" }));
    const res = await t.call("POST", lh(tn, "/keys/batch"), { token: tn.token, body: { keys } });
    expect(res.status).toBe(400);
    expect(res.body.errorDescription).toBe("body.keys: at most 1000 items in one request, got 1001");
  });
});
