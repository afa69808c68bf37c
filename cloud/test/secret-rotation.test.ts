import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeAll, integratorToken, lh, startTestCloud, type Tenant, type TestCloud, tenant } from "./helpers.js";

/**
 * review 12.7: bridge and integrator client secrets can be rotated with an overlap, and the old one revoked
 * (cloud/src/domain/secret-rotation.ts, cloud/README.md "Rotating secrets").
 */

const TTL_S = 3600;
const HOUR = 3600_000;
let t: TestCloud;
let tn: Tenant;

beforeEach(async () => {
  t = await startTestCloud({ settings: { accessTokenTtlSeconds: TTL_S } });
  tn = await tenant(t);
});
afterEach(closeAll);

const login = (clientId: string, clientSecret: string, scope: string) =>
  t.call("POST", "/auth/v1/token", {
    body: { grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret, scope },
  });

async function bridge(): Promise<{ id: string; secret: string; path: string }> {
  const created = await t.call("POST", lh(tn, "/bridges"), { token: tn.token, body: { name: "gw" } });
  expect(created.status).toBe(201);
  return { id: created.body.bridgeId, secret: created.body.secret, path: lh(tn, `/bridges/${created.body.bridgeId}`) };
}

/** Whether a bridge token is still accepted (the change feed is the bridge's everyday call). */
const bridgeTokenWorks = async (token: string) =>
  (await t.call("GET", "/bridge/v1/changes?limit=1", { token })).status === 200;
const integratorTokenWorks = async (token: string) =>
  (await t.call("GET", "/integrators/v1/lock-holders", { token })).status === 200;

describe("bridge secret rotation", () => {
  it("answers the new secret once; the old one logs in until the overlap ends, and its tokens end with it", async () => {
    const b = await bridge();
    const rotated = await t.call("POST", `${b.path}/secret/rotate`, {
      token: tn.token,
      body: { overlapSeconds: 7200 },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({
      bridgeId: b.id,
      secret: expect.stringMatching(/^lkbs_/),
      expiresOldAt: new Date(t.clock.now() + 2 * HOUR).toISOString(),
    });
    const fresh = rotated.body.secret as string;
    expect(fresh).not.toBe(b.secret);
    // Both work in the overlap; a token got with the old one ends with the overlap, not an hour later.
    expect((await login(b.id, fresh, "bridge")).body.expires_in).toBe(TTL_S);
    t.clock.advance(1.5 * HOUR);
    const old = await login(b.id, b.secret, "bridge");
    expect(old.status).toBe(200);
    expect(old.body.expires_in).toBe(1800);
    expect(await bridgeTokenWorks(old.body.access_token)).toBe(true);
    // The secret is never shown again: not by GET.
    expect(JSON.stringify((await t.call("GET", b.path, { token: tn.token })).body)).not.toContain(fresh);
    t.clock.advance(0.5 * HOUR);
    const late = await login(b.id, b.secret, "bridge");
    expect(late.status).toBe(401);
    expect(late.body.error).toBe("invalid_client");
    expect(await bridgeTokenWorks(old.body.access_token)).toBe(false);
    expect((await login(b.id, fresh, "bridge")).status).toBe(200);
  });

  it("review 12.7: DELETE …/secret/previous stops the old secret logging in at once, and ends its tokens", async () => {
    const b = await bridge();
    const before = (await login(b.id, b.secret, "bridge")).body.access_token as string;
    const rotated = await t.call("POST", `${b.path}/secret/rotate`, { token: tn.token });
    expect(rotated.body.expiresOldAt).toBe(new Date(t.clock.now() + 24 * HOUR).toISOString()); // the default
    const fresh = rotated.body.secret as string;
    const after = (await login(b.id, fresh, "bridge")).body.access_token as string;
    expect(await bridgeTokenWorks(before)).toBe(true);
    expect((await login(b.id, b.secret, "bridge")).status).toBe(200);

    const revoked = await t.call("DELETE", `${b.path}/secret/previous`, { token: tn.token });
    expect(revoked.status).toBe(204);
    expect((await login(b.id, b.secret, "bridge")).status).toBe(401);
    expect(await bridgeTokenWorks(before)).toBe(false);
    // The new secret and its token are untouched; revoking again changes nothing.
    expect(await bridgeTokenWorks(after)).toBe(true);
    expect((await t.call("DELETE", `${b.path}/secret/previous`, { token: tn.token })).status).toBe(204);
    expect(await bridgeTokenWorks(after)).toBe(true);
  });

  it("overlap 0 revokes the old secret and its tokens at once; a second rotation revokes the one before", async () => {
    const b = await bridge();
    const first = (await login(b.id, b.secret, "bridge")).body.access_token as string;
    const r1 = await t.call("POST", `${b.path}/secret/rotate`, { token: tn.token, body: { overlapSeconds: 0 } });
    expect(r1.body.expiresOldAt).toBe(new Date(t.clock.now()).toISOString());
    expect((await login(b.id, b.secret, "bridge")).status).toBe(401);
    expect(await bridgeTokenWorks(first)).toBe(false);

    const s1 = r1.body.secret as string;
    const r2 = await t.call("POST", `${b.path}/secret/rotate`, { token: tn.token, body: {} });
    const s2 = r2.body.secret as string;
    expect((await login(b.id, s1, "bridge")).status).toBe(200); // in its overlap
    const r3 = await t.call("POST", `${b.path}/secret/rotate`, { token: tn.token });
    expect((await login(b.id, s1, "bridge")).status).toBe(401); // only one old secret is ever kept
    expect((await login(b.id, s2, "bridge")).status).toBe(200);
    expect((await login(b.id, r3.body.secret, "bridge")).status).toBe(200);
  });

  it("refuses overlaps out of range, unknown fields, and other tenants' bridges (404)", async () => {
    const b = await bridge();
    for (const body of [
      { overlapSeconds: -1 },
      { overlapSeconds: 7 * 86_400 + 1 },
      { overlapSeconds: 1.5 },
      { x: 1 },
    ]) {
      const answer = await t.call("POST", `${b.path}/secret/rotate`, { token: tn.token, body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.errorDescription).toEqual(expect.any(String));
    }
    expect(
      (await t.call("POST", `${b.path}/secret/rotate`, { token: tn.token, body: { overlapSeconds: 604_800 } })).status,
    ).toBe(200);
    const other = await tenant(t, "Other");
    for (const [method, suffix] of [
      ["POST", "rotate"],
      ["DELETE", "previous"],
    ] as const) {
      const stranger = await t.call(method, `${b.path}/secret/${suffix}`, { token: other.token });
      expect(stranger.status).toBe(404);
      const lhPath = `/integrators/v1/lock-holders/${other.lockHolderId}/bridges/${b.id}/secret/${suffix}`;
      expect((await t.call(method, lhPath, { token: other.token })).status).toBe(404);
    }
  });
});

describe("integrator client secret rotation", () => {
  const path = (suffix: string) =>
    `/integrators/v1/integrator/${tn.integratorId}/clients/${tn.clientId}/secret/${suffix}`;

  it("rotates with an overlap; revoking the old secret ends it and every token issued for it", async () => {
    const scoped = await integratorToken(t, tn.clientId, tn.clientSecret, `lockHolder.admin:${tn.lockHolderId}`);
    const rotated = await t.call("POST", path("rotate"), { token: tn.token, body: { overlapSeconds: 600 } });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({
      clientId: tn.clientId,
      secret: expect.stringMatching(/^lkcs_/),
      expiresOldAt: new Date(t.clock.now() + 600_000).toISOString(),
    });
    const fresh = rotated.body.secret as string;
    expect((await login(tn.clientId, tn.clientSecret, "integrator.admin")).body.expires_in).toBe(600);
    const admin = await integratorToken(t, tn.clientId, fresh);
    expect(await integratorTokenWorks(tn.token)).toBe(true);

    expect((await t.call("DELETE", path("previous"), { token: admin })).status).toBe(204);
    const refused = await login(tn.clientId, tn.clientSecret, "integrator.admin");
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe("invalid_client");
    expect(await integratorTokenWorks(tn.token)).toBe(false);
    expect(await integratorTokenWorks(scoped)).toBe(false);
    expect(await integratorTokenWorks(admin)).toBe(true);
  });

  it("the old secret stops at the end of the overlap by itself", async () => {
    const rotated = await t.call("POST", path("rotate"), { token: tn.token, body: { overlapSeconds: 60 } });
    t.clock.advance(59_999);
    expect((await login(tn.clientId, tn.clientSecret, "integrator.admin")).status).toBe(200);
    t.clock.advance(1);
    expect((await login(tn.clientId, tn.clientSecret, "integrator.admin")).status).toBe(401);
    expect(await integratorTokenWorks(tn.token)).toBe(true); // issued before the rotation: ends at its own expiry
    expect((await login(tn.clientId, rotated.body.secret, "integrator.admin")).status).toBe(200);
  });

  it("needs integrator.admin, and only for the caller's own integrator and client", async () => {
    const scoped = await integratorToken(t, tn.clientId, tn.clientSecret, `lockHolder.admin:${tn.lockHolderId}`);
    for (const [method, suffix] of [
      ["POST", "rotate"],
      ["DELETE", "previous"],
    ] as const) {
      const narrow = await t.call(method, path(suffix), { token: scoped });
      expect(narrow.status).toBe(403);
      expect(narrow.body.error).toBe("insufficient_scope");
      const other = await tenant(t, `Other ${suffix}`);
      expect((await t.call(method, path(suffix), { token: other.token })).status).toBe(404);
      const ownPathOtherClient = `/integrators/v1/integrator/${other.integratorId}/clients/${tn.clientId}/secret/${suffix}`;
      expect((await t.call(method, ownPathOtherClient, { token: other.token })).status).toBe(404);
    }
    expect((await login(tn.clientId, tn.clientSecret, "integrator.admin")).status).toBe(200);
  });

  it("overlap 0 ends the calling token too, as documented", async () => {
    const rotated = await t.call("POST", path("rotate"), { token: tn.token, body: { overlapSeconds: 0 } });
    expect(rotated.status).toBe(200);
    expect(await integratorTokenWorks(tn.token)).toBe(false);
    expect((await login(tn.clientId, tn.clientSecret, "integrator.admin")).status).toBe(401);
    expect(await integratorTokenWorks(await integratorToken(t, tn.clientId, rotated.body.secret))).toBe(true);
  });
});

describe("secrets stay out of the log", () => {
  it("no rotated secret appears in any log line", async () => {
    const b = await bridge();
    const r = await t.call("POST", `${b.path}/secret/rotate`, { token: tn.token });
    const c = await t.call(
      "POST",
      `/integrators/v1/integrator/${tn.integratorId}/clients/${tn.clientId}/secret/rotate`,
      {
        token: tn.token,
      },
    );
    await login(b.id, r.body.secret, "bridge");
    await login(tn.clientId, c.body.secret, "integrator.admin");
    const text = t.logs.text();
    for (const secret of [b.secret, r.body.secret, tn.clientSecret, c.body.secret]) expect(text).not.toContain(secret);
  });
});
