import { randomBytes } from "node:crypto";
import type { LockEvent } from "@latchkey/protocol";
import type { PaperLock } from "./paper-lock.js";

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in tests
  body: any;
  text: string;
}

/** One HTTP exchange with the cloud, any status, the body parsed when it is JSON. */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | Buffer | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

/** An access token by OAuth2 client credentials (integrator, lock holder or bridge scope). */
export async function accessToken(baseUrl: string, clientId: string, secret: string, scope: string): Promise<string> {
  const answer = await call(baseUrl, "POST", "/auth/v1/token", {
    body: { grant_type: "client_credentials", client_id: clientId, client_secret: secret, scope },
  });
  if (answer.status !== 200) throw new Error(`token for ${clientId} (${scope}): ${answer.status} ${answer.text}`);
  return answer.body.access_token as string;
}

/** What a bridge tells the cloud, spoken directly (no bridge process): its connection is up and these are its locks. */
export async function reportLocks(
  baseUrl: string,
  bridgeToken: string,
  vendorConnectionId: string,
  lockIds: string[],
): Promise<void> {
  const found = await call(baseUrl, "PUT", `/bridge/v1/vendor-connections/${vendorConnectionId}/locks`, {
    token: bridgeToken,
    body: { locks: lockIds.map((id) => ({ id })) },
  });
  if (found.status !== 200) throw new Error(`found locks: ${found.status} ${found.text}`);
  const state = await call(baseUrl, "PUT", `/bridge/v1/vendor-connections/${vendorConnectionId}/state`, {
    token: bridgeToken,
    body: { state: "connected" },
  });
  if (state.status !== 204) throw new Error(`state: ${state.status} ${state.text}`);
}

/** A `denied` event as a lock seals it (its id random). */
export const deniedEvent = (seq: number, ts: number): Omit<LockEvent, "lock"> => ({
  id: new Uint8Array(randomBytes(16)),
  seq,
  ts,
  type: "denied",
  code: "expired",
});

/**
 * What a bridge does with a lock's events, spoken directly: fetches the lock's signed state (the lock must be claimed
 * and served by the bridge), has `lock` seal each event under the report key it names, and uploads them with the
 * lock's keys to `POST /bridge/v1/reports` (docs/bridge-api.md "Reports from the lock"). Answers the verdicts.
 */
export async function uploadEvents(
  baseUrl: string,
  bridgeToken: string,
  lock: PaperLock,
  events: Array<Omit<LockEvent, "lock">>,
): Promise<string[]> {
  const fetched = await call(baseUrl, "GET", `/bridge/v1/locks/${encodeURIComponent(lock.lockId)}/state`, {
    token: bridgeToken,
  });
  if (fetched.status !== 200) throw new Error(`state of ${lock.lockId}: ${fetched.status} ${fetched.text}`);
  const state = lock.readState(fetched.body.state);
  const items = events.map((e) => ({ lockId: lock.lockId, report: lock.sealEvent(state, e), keys: lock.keys }));
  const answer = await call(baseUrl, "POST", "/bridge/v1/reports", { token: bridgeToken, body: { items } });
  if (answer.status !== 200) throw new Error(`reports: ${answer.status} ${answer.text}`);
  return (answer.body.results as Array<{ verdict: string }>).map((r) => r.verdict);
}
