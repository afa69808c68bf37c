import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerPhone } from "./app.js";
import {
  bridgeWithConnection,
  closeAll,
  integratorToken,
  lh,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  virtualLocks,
} from "./helpers.js";

let t: TestCloud;
let tn: Tenant;

beforeEach(async () => {
  t = await startTestCloud({ settings: { accessTokenTtlSeconds: 3600 } });
  tn = await tenant(t);
});
afterEach(closeAll);

describe("OAuth2 client credentials", () => {
  it("grants integrator.admin as JSON or form, with expiry", async () => {
    const form = await t.call("POST", "/auth/v1/token/", {
      raw: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: tn.clientId,
        client_secret: tn.clientSecret,
        scope: "integrator.admin",
      }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(200);
    expect(form.body).toMatchObject({ token_type: "bearer", expires_in: 3600, scope: "integrator.admin" });
    const token = form.body.access_token;
    expect((await t.call("GET", "/integrators/v1/lock-holders", { token })).status).toBe(200);
    t.clock.advance(3600_000);
    const expired = await t.call("GET", "/integrators/v1/lock-holders", { token });
    expect(expired.status).toBe(401);
    expect(expired.headers["www-authenticate"]).toContain("Bearer");
  });

  it("refuses wrong secrets, unknown clients and unknown scopes", async () => {
    const ask = (body: Record<string, string>) =>
      t.call("POST", "/auth/v1/token", { body: { grant_type: "client_credentials", ...body } });
    const wrong = await ask({ client_id: tn.clientId, client_secret: "nope", scope: "integrator.admin" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe("invalid_client");
    expect(
      (await ask({ client_id: "cl_nobody", client_secret: tn.clientSecret, scope: "integrator.admin" })).status,
    ).toBe(401);
    const scope = await ask({ client_id: tn.clientId, client_secret: tn.clientSecret, scope: "root" });
    expect(scope.status).toBe(400);
    expect(scope.body.error).toBe("invalid_scope");
    // a bridge scope with integrator credentials is an unknown client
    expect((await ask({ client_id: tn.clientId, client_secret: tn.clientSecret, scope: "bridge" })).status).toBe(401);
    expect(
      (
        await t.call("POST", "/auth/v1/token", {
          body: {
            grant_type: "password",
            client_id: tn.clientId,
            client_secret: tn.clientSecret,
            scope: "integrator.admin",
          },
        })
      ).status,
    ).toBe(400);
    // nothing secret is echoed or logged
    expect(JSON.stringify(wrong.body)).not.toContain("nope");
    expect(t.logs.text()).not.toContain(tn.clientSecret);
  });

  it("lockHolder.admin:<id> reaches only that lock holder", async () => {
    const second = await t.call("POST", "/integrators/v1/lock-holders", { token: tn.token, body: { name: "Second" } });
    const scoped = await integratorToken(t, tn.clientId, tn.clientSecret, `lockHolder.admin:${tn.lockHolderId}`);
    expect((await t.call("GET", lh(tn), { token: scoped })).status).toBe(200);
    expect((await t.call("GET", `/integrators/v1/lock-holders/${second.body.id}`, { token: scoped })).status).toBe(404);
    const list = await t.call("GET", "/integrators/v1/lock-holders", { token: scoped });
    expect(list.body.lockHolders.map((l: { id: string }) => l.id)).toEqual([tn.lockHolderId]);
    const create = await t.call("POST", "/integrators/v1/lock-holders", { token: scoped, body: { name: "Nope" } });
    expect(create.status).toBe(403);
    expect(create.body.error).toBe("insufficient_scope");
    const other = await tenant(t, "Other");
    const foreign = await t.call("POST", "/auth/v1/token", {
      body: {
        grant_type: "client_credentials",
        client_id: tn.clientId,
        client_secret: tn.clientSecret,
        scope: `lockHolder.admin:${other.lockHolderId}`,
      },
    });
    expect(foreign.status).toBe(400);
  });
});

describe("authorization matrix: every token kind only on its own routes", () => {
  it("bridge, integrator and app tokens are refused (403) on each other's routes; none → 401", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    const br = await bridgeWithConnection(t, tn);
    const phone = await registerPhone(t, "+4791234567");
    const integratorRoutes: [string, string, unknown?][] = [
      ["GET", "/integrators/v1/lock-holders"],
      ["GET", lh(tn, "/locks")],
      ["POST", lh(tn, "/keys"), { lockId: lockIds[0]!, userId: "+4791234567" }],
      ["GET", lh(tn, "/events")],
      ["POST", "/integrators/v1/phone-numbers/format", { phoneNumber: "+4791234567" }],
    ];
    const bridgeRoutes: [string, string, unknown?][] = [
      ["GET", "/bridge/v1/changes"],
      ["POST", "/bridge/v1/heartbeat", { version: "1" }],
      ["POST", "/bridge/v1/ingest", {}],
      ["PUT", `/bridge/v1/vendor-connections/${br.vcId}/state`, { state: "connected" }],
    ];
    const appRoutes: [string, string, unknown?][] = [
      ["GET", "/app/v1/keys"],
      ["DELETE", "/app/v1/device"],
      ["POST", `/app/v1/virtual-locks/${lockIds[0]!}/challenge`],
    ];
    const matrix: [string, [string, string, unknown?][], string[]][] = [
      ["integrator", integratorRoutes, [br.token, phone.token]],
      ["bridge", bridgeRoutes, [tn.token, phone.token]],
      ["app", appRoutes, [tn.token, br.token]],
    ];
    for (const [what, routes, wrongTokens] of matrix) {
      for (const [method, url, body] of routes) {
        for (const token of wrongTokens) {
          const res = await t.call(method, url, { token, body });
          expect(res.status, `${what} route ${method} ${url}`).toBe(403);
        }
        expect((await t.call(method, url, { body })).status, `${method} ${url} without a token`).toBe(401);
        expect((await t.call(method, url, { body, token: "lkat_forged" })).status).toBe(401);
        expect((await t.call(method, url, { body, headers: { authorization: "Basic abc" } })).status).toBe(401);
      }
    }
  });
});

describe("cross-tenant isolation", () => {
  it("one integrator can never read or change another's lock holders, locks, keys, events, webhooks, jobs or connections", async () => {
    const { vcId, lockIds } = await virtualLocks(t, tn, 1);
    const key = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567" },
    });
    const hook = await t.call("POST", lh(tn, "/webhooks"), { token: tn.token, body: { url: "https://example.com/h" } });
    const job = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: { keys: [{ lockId: lockIds[0]!, userId: "+4791234567" }] },
    });
    const mallory = await tenant(t, "Mallory");
    const tenantKid = (await t.call("GET", lh(tn, "/issuer-keys"), { token: tn.token })).body.issuerKeys[0].kid;
    const probes: [string, string, unknown?][] = [
      ["GET", lh(tn)],
      ["PATCH", lh(tn), { name: "pwned" }],
      ["GET", lh(tn, "/locks")],
      ["GET", lh(tn, `/locks/${lockIds[0]!}`)],
      ["PATCH", lh(tn, `/locks/${lockIds[0]!}`), { name: "pwned" }],
      ["POST", lh(tn, `/locks/${lockIds[0]!}/keys`), { userId: "+4798765432" }],
      ["POST", lh(tn, "/keys"), { lockId: lockIds[0]!, userId: "+4798765432" }],
      ["POST", lh(tn, "/keys/batch"), { keys: [{ lockId: lockIds[0]!, userId: "+4798765432" }] }],
      ["GET", lh(tn, "/keys")],
      ["GET", lh(tn, `/keys/${key.body.id}`)],
      ["PUT", lh(tn, `/keys/${key.body.id}`), { state: "revoked" }],
      ["GET", lh(tn, "/events")],
      ["GET", lh(tn, "/webhooks")],
      ["POST", lh(tn, "/webhooks"), { url: "https://evil.example/h" }],
      ["DELETE", lh(tn, `/webhooks/${hook.body.id}`)],
      ["GET", lh(tn, "/vendor-connections")],
      ["GET", lh(tn, `/vendor-connections/${vcId}`)],
      ["DELETE", lh(tn, `/vendor-connections/${vcId}`)],
      ["PUT", lh(tn, `/vendor-connections/${vcId}/refresh`)],
      ["GET", lh(tn, "/bridges")],
      ["POST", lh(tn, "/bridges"), {}],
      ["GET", lh(tn, "/issuer-keys")],
      ["POST", lh(tn, "/issuer-keys/rotate")],
      ["POST", lh(tn, `/issuer-keys/${tenantKid}/retire`)],
      ["GET", `/integrators/v1/jobs/${job.body.jobId}`],
      ["GET", `/integrators/v1/integrator/${tn.integratorId}`],
    ];
    for (const [method, url, body] of probes) {
      const res = await t.call(method, url, { token: mallory.token, body });
      expect(res.status, `${method} ${url}`).toBe(404);
    }
    // Mallory's own lock holder cannot reach Tenant's lock either.
    const own = await t.call("POST", lh(mallory, `/locks/${lockIds[0]!}/keys`), {
      token: mallory.token,
      body: { userId: "+4798765432" },
    });
    expect(own.status).toBe(404);
    const ownBody = await t.call("POST", lh(mallory, "/keys"), {
      token: mallory.token,
      body: { lockId: lockIds[0]!, userId: "+4798765432" },
    });
    expect(ownBody.status).toBe(404);
    // Nothing changed.
    expect((await t.call("GET", lh(tn, `/keys/${key.body.id}`), { token: tn.token })).body.state).not.toBe("revoked");
    expect((await t.call("GET", lh(tn), { token: tn.token })).body.name).toBe("Tenant homes");
    expect((await t.call("GET", lh(tn, "/webhooks"), { token: tn.token })).body.webhooks).toHaveLength(1);
    expect((await t.call("GET", lh(tn, "/keys"), { token: tn.token })).body.keys).toHaveLength(2);
  });
});
