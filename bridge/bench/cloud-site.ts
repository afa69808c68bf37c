/**
 * What a benchmark needs from a running cloud, through its public API only: a lock holder, a bridge registration and
 * a `sim` vendor connection served by that bridge. The bridge package never imports the cloud.
 */
export interface CloudTarget {
  url: string;
  /** Integrator client credentials (e.g. from `latchkey-cloud bootstrap --json`). */
  clientId: string;
  clientSecret: string;
}

export interface BenchSite {
  cloudUrl: string;
  lockHolderId: string;
  bridgeId: string;
  bridgeSecret: string;
  vendorConnectionId: string;
  vendor: { vendor: "sim"; username: string; password: string };
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

export async function createBenchSite(cloud: CloudTarget, name: string): Promise<BenchSite> {
  const base = cloud.url.replace(/\/+$/, "");
  const tokenAnswer = await fetch(`${base}/auth/v1/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      grant_type: "client_credentials",
      client_id: cloud.clientId,
      client_secret: cloud.clientSecret,
      scope: "integrator.admin",
    }),
  });
  if (!tokenAnswer.ok) throw new Error(`cloud token: ${tokenAnswer.status} ${await tokenAnswer.text()}`);
  const token = ((await tokenAnswer.json()) as { access_token: string }).access_token;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}/integrators/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  };
  const ok = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const answer = await call(method, path, body);
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as T;
  };
  const lh = await ok<{ id: string }>("POST", "/lock-holders", { name, countryIso: "NO" });
  const bridge = await ok<{ bridgeId: string; secret: string }>("POST", `/lock-holders/${lh.id}/bridges`, { name });
  const vendor = { vendor: "sim" as const, username: `${name}-account`, password: `${name}-vendor-password` };
  const vc = await ok<{ vendorConnection: { id: string } }>("POST", `/lock-holders/${lh.id}/vendor-connections`, {
    ...vendor,
    bridgeId: bridge.bridgeId,
  });
  return {
    cloudUrl: base,
    lockHolderId: lh.id,
    bridgeId: bridge.bridgeId,
    bridgeSecret: bridge.secret,
    vendorConnectionId: vc.vendorConnection.id,
    vendor,
    call,
  };
}
