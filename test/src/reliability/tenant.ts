import { expect } from "vitest";
import type { Secrets } from "./evidence.js";
import type { Answer, SendOptions } from "./routes.js";

/** One tenant of a running cloud, as the reliability files that play several tenants need it. */
export interface TenantSide {
  /** An `integrator.admin` access token. */
  admin: string;
  /** `/integrators/v1/lock-holders/{id}` of the tenant's lock holder. */
  lhPath: string;
  /** The access token of the tenant's bridge. */
  bridgeToken: string;
}

export type Api = (method: string, path: string, options?: SendOptions) => Promise<Answer>;

/**
 * Stands up a tenant the way an integrator and its gateway would: an integrator (bootstrapped), a lock holder, a
 * registered bridge, a `sim` vendor connection served by it, and the bridge reporting `lockIds`. Every secret made is
 * tracked in `secrets`, so the file's no-secret-in-logs check covers it.
 */
export async function tenantSide(
  cloud: { bootstrap(name: string): Promise<{ clientId: string; clientSecret: string }> },
  api: Api,
  secrets: Secrets,
  name: string,
  lockIds: string[],
): Promise<TenantSide> {
  const creds = await cloud.bootstrap(name);
  secrets.add(`${name} client secret`, creds.clientSecret);
  const grant = async (client_id: string, client_secret: string, scope: string) => {
    const res = await api("POST", "/auth/v1/token", {
      json: { grant_type: "client_credentials", client_id, client_secret, scope },
    });
    secrets.add(`${name} ${scope} token`, res.body.access_token);
    return res.body.access_token as string;
  };
  const admin = await grant(creds.clientId, creds.clientSecret, "integrator.admin");
  const lh = await api("POST", "/integrators/v1/lock-holders", { token: admin, json: { name: `${name} homes` } });
  const lhPath = `/integrators/v1/lock-holders/${lh.body.id}`;
  const bridge = await api("POST", `${lhPath}/bridges`, { token: admin, json: { name: `${name} gateway` } });
  secrets.add(`${name} bridge secret`, bridge.body.secret);
  const bridgeToken = await grant(bridge.body.bridgeId, bridge.body.secret, "bridge");
  const vc = await api("POST", `${lhPath}/vendor-connections`, {
    token: admin,
    json: {
      vendor: "sim",
      username: `${name}-site`,
      password: `${name}-vendor-pw-0123`,
      bridgeId: bridge.body.bridgeId,
    },
  });
  secrets.add(`${name} vendor password`, `${name}-vendor-pw-0123`);
  const reported = await api("PUT", `/bridge/v1/vendor-connections/${vc.body.vendorConnection.id}/locks`, {
    token: bridgeToken,
    json: { locks: lockIds.map((id) => ({ id })) },
  });
  expect(reported.status).toBe(200);
  return { admin, lhPath, bridgeToken };
}
