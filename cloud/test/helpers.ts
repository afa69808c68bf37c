import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { ManualClock } from "@latchkey/protocol";
import { AnswerChecker } from "@latchkey/protocol/testing/openapi-answers";
import { pollUntil, type Truthy } from "@latchkey/runtime";
import { afterEach, beforeEach } from "vitest";
import { type CloudOptions, type RunningCloud, startCloud } from "../src/index.js";
import { DATABASE_URL, recycleTestSchema, SUITE_ON_POSTGRES, type TestSchema, takeTestSchema } from "./postgres.js";

/** Deterministic randomness: SHA-256 in counter mode over a seed. */
export function seededRandom(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  let pool = Buffer.alloc(0);
  return (n: number) => {
    while (pool.length < n) {
      pool = Buffer.concat([pool, createHash("sha256").update(`${seed}:${counter++}`).digest()]);
    }
    const out = new Uint8Array(pool.subarray(0, n));
    pool = pool.subarray(n);
    return out;
  };
}

/** Captures pino's JSON lines. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line));
      } catch {
        // not JSON: kept in raw only
      }
    }
    done();
  }
  text(): string {
    return this.raw.join("\n");
  }
}

// biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export interface TestCloud {
  cloud: RunningCloud;
  clock: ManualClock;
  dir: string;
  logs: LogCapture;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  call<T = any>(
    method: string,
    url: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string },
  ): Promise<Answer<T>>;
  close(): Promise<void>;
}

const open: TestCloud[] = [];

/**
 * Every answer a test gets is checked against the OpenAPI document the cloud serves (issue 14: the document is a
 * contract): a status the operation does not declare, or a body its schema refuses, fails the call. One checker per
 * distinct document (the routes are the same for every cloud of a run, so in practice one).
 */
const checkers = new Map<string, AnswerChecker>();

async function checkerFor(cloud: RunningCloud): Promise<AnswerChecker> {
  const text = (await cloud.app.inject({ method: "GET", url: "/docs/json" })).body;
  let checker = checkers.get(text);
  if (!checker) {
    checker = new AnswerChecker(JSON.parse(text));
    checkers.set(text, checker);
  }
  return checker;
}

/**
 * On PostgreSQL a test cloud's database is a schema, kept per data directory: a cloud started again on the same
 * directory (a restart) finds the same schema. When the cloud that took it closes, the schema is emptied for a later
 * test cloud (`recycleTestSchema`), or dropped if another cloud still has it open.
 */
const schemas = new Map<string, { schema: TestSchema; open: number }>();

/** Where the suite's clouds keep their data: SQLite in the data directory, or a PostgreSQL schema of their own. */
async function databaseFor(dir: string): Promise<{ databaseUrl?: string; owned?: TestSchema; release?: () => void }> {
  if (!SUITE_ON_POSTGRES || !DATABASE_URL) return {};
  const known = schemas.get(dir);
  if (known) {
    known.open++;
    return { databaseUrl: known.schema.url, release: () => void known.open-- };
  }
  const entry = { schema: await takeTestSchema(), open: 1 };
  schemas.set(dir, entry);
  return { databaseUrl: entry.schema.url, owned: entry.schema, release: () => void entry.open-- };
}

export async function startTestCloud(
  options: Partial<CloudOptions> & {
    seed?: string;
    /** Whether answers are checked against /docs/json (default true; off only where a test breaks the contract on purpose). */
    checkAnswers?: boolean;
  } = {},
): Promise<TestCloud> {
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), "latchkey-cloud-test-"));
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock(1_800_000_000_000);
  const logs = new LogCapture();
  const { seed, settings, checkAnswers = true, ...rest } = options;
  const database = options.databaseUrl === undefined ? await databaseFor(dir) : {};
  const cleanUp = async () => {
    if (!options.dataDir) rmSync(dir, { recursive: true, force: true });
    database.release?.();
    if (database.owned) {
      const others = schemas.get(dir)?.open ?? 0;
      schemas.delete(dir);
      await (others > 0 ? database.owned.drop() : recycleTestSchema(database.owned));
    }
  };
  const cloud = await startCloud({
    ...(database.databaseUrl !== undefined ? { databaseUrl: database.databaseUrl, databasePoolMax: 4 } : {}),
    dataDir: dir,
    port: 0,
    clock,
    logLevel: "info",
    logStream: logs,
    random: seededRandom(seed ?? "cloud-test"),
    masterKey: new Uint8Array(32).fill(7),
    workerPollMs: 20,
    webhookRetry: { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, timeoutMs: 5000 },
    // Tests move the clock by days; access tokens outlive that unless a test asks otherwise. Their webhook receivers
    // listen on 127.0.0.1, which only this setting lets the cloud reach.
    settings: { accessTokenTtlSeconds: 365 * 86_400, allowPrivateWebhookTargets: true, ...settings },
    ...rest,
  }).catch(async (err) => {
    await cleanUp();
    throw err;
  });
  let closed = false;
  const checker = checkAnswers ? await checkerFor(cloud) : undefined;
  const t: TestCloud = {
    cloud,
    clock,
    dir,
    logs,
    async call(method, url, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      let payload: string | undefined;
      if (o.raw !== undefined) payload = o.raw;
      else if (o.body !== undefined) {
        payload = JSON.stringify(o.body);
        headers["content-type"] ??= "application/json";
      }
      const res = await cloud.app.inject({
        method: method as "GET",
        url,
        headers,
        ...(payload !== undefined ? { payload } : {}),
      });
      const problem = checker?.problem(
        method,
        url,
        res.statusCode,
        res.headers["content-type"] as string | undefined,
        res.body,
      );
      if (problem) throw new Error(`answer off the OpenAPI document: ${problem}`);
      let body: unknown = res.body;
      try {
        body = res.body === "" ? undefined : JSON.parse(res.body);
      } catch {
        // leave as text
      }
      return { status: res.statusCode, body, headers: res.headers } as Answer;
    },
    async close() {
      if (closed) return;
      closed = true;
      await cloud.close();
      await cleanUp();
    },
  };
  open.push(t);
  return t;
}

/** Closes every cloud a test started (use in afterEach). */
export async function closeAll(): Promise<void> {
  while (open.length > 0) await open.pop()!.close();
}

export interface Tenant {
  integratorId: string;
  clientId: string;
  clientSecret: string;
  token: string;
  lockHolderId: string;
}

export async function integratorToken(
  t: TestCloud,
  clientId: string,
  clientSecret: string,
  scope = "integrator.admin",
) {
  const res = await t.call("POST", "/auth/v1/token", {
    body: { grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret, scope },
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

/** An integrator with a token and one lock holder (country NO). */
export async function tenant(t: TestCloud, name = "Tenant"): Promise<Tenant> {
  const creds = await t.cloud.bootstrap(name);
  const token = await integratorToken(t, creds.clientId, creds.clientSecret);
  const lh = await t.call("POST", "/integrators/v1/lock-holders", {
    token,
    body: { name: `${name} homes`, countryIso: "NO" },
  });
  if (lh.status !== 201) throw new Error(`lock holder: ${lh.status} ${JSON.stringify(lh.body)}`);
  return { ...creds, token, lockHolderId: lh.body.id };
}

export const lh = (tn: Tenant, path = "") => `/integrators/v1/lock-holders/${tn.lockHolderId}${path}`;

/** A test's own cloud, tenant and virtual locks (`lockId` the first), fresh for each test (virtualSiteEach). */
export interface VirtualSite {
  t: TestCloud;
  tn: Tenant;
  lockIds: string[];
  lockId: string;
}

/** Sets up a `VirtualSite` before each test of the file and closes its cloud after; read its fields inside tests. */
export function virtualSiteEach(count = 1): VirtualSite {
  const site = {} as VirtualSite;
  tenantSiteEach({}, async ({ t, tn }) => {
    site.t = t;
    site.tn = tn;
    site.lockIds = (await virtualLocks(t, tn, count)).lockIds;
    site.lockId = site.lockIds[0]!;
  });
  return site;
}

/** A test's own cloud and tenant, and with `bridge: true` a bridge serving a `sim` connection (tenantSiteEach). */
export interface TenantSite {
  t: TestCloud;
  tn: Tenant;
  /** Only with `bridge: true`. */
  br: BridgeSetup;
}

/**
 * The start-a-cloud set-up of the cloud's tests, registered once per file: before each test a fresh cloud (with
 * `cloud` options) and tenant (and bridge), then `ready` for the file's own set-up (a file that keeps `t` and `tn` in
 * variables assigns them there); every cloud the test started is closed after it.
 */
export function tenantSiteEach(
  options: { cloud?: Parameters<typeof startTestCloud>[0]; bridge?: boolean } = {},
  ready?: (site: TenantSite) => void | Promise<void>,
): TenantSite {
  const site = {} as TenantSite;
  beforeEach(async () => {
    site.t = await startTestCloud(options.cloud);
    site.tn = await tenant(site.t);
    if (options.bridge) site.br = await bridgeWithConnection(site.t, site.tn);
    await ready?.(site);
  });
  afterEach(closeAll);
  return site;
}

/** Creates a virtual vendor connection with `count` locks; answers the lock ids. */
export async function virtualLocks(t: TestCloud, tn: Tenant, count = 2): Promise<{ vcId: string; lockIds: string[] }> {
  const vc = await t.call("POST", lh(tn, "/vendor-connections"), {
    token: tn.token,
    body: { vendor: "virtual", locksToCreate: count },
  });
  if (vc.status !== 201) throw new Error(`vc: ${vc.status} ${JSON.stringify(vc.body)}`);
  const locks = await t.call("GET", lh(tn, "/locks"), { token: tn.token });
  const lockIds = (locks.body.locks as { id: string; vendorConnectionId: string }[])
    .filter((l) => l.vendorConnectionId === vc.body.vendorConnection.id)
    .map((l) => l.id);
  return { vcId: vc.body.vendorConnection.id, lockIds };
}

export interface BridgeSetup {
  bridgeId: string;
  secret: string;
  token: string;
  vcId: string;
}

/** Registers a bridge, gets its token, and creates a `sim` connection served by it. */
export async function bridgeWithConnection(
  t: TestCloud,
  tn: Tenant,
  username = "site-a",
  password = "pw-a",
): Promise<BridgeSetup> {
  const br = await t.call("POST", lh(tn, "/bridges"), { token: tn.token, body: { name: "gw" } });
  if (br.status !== 201) throw new Error(`bridge: ${br.status} ${JSON.stringify(br.body)}`);
  const tok = await t.call("POST", "/auth/v1/token", {
    body: {
      grant_type: "client_credentials",
      client_id: br.body.bridgeId,
      client_secret: br.body.secret,
      scope: "bridge",
    },
  });
  const vc = await t.call("POST", lh(tn, "/vendor-connections"), {
    token: tn.token,
    body: { vendor: "sim", username, password, bridgeId: br.body.bridgeId },
  });
  if (vc.status !== 201) throw new Error(`vc: ${vc.status} ${JSON.stringify(vc.body)}`);
  return {
    bridgeId: br.body.bridgeId,
    secret: br.body.secret,
    token: tok.body.access_token,
    vcId: vc.body.vendorConnection.id,
  };
}

/** runtime's pollUntil with the cloud tests' pace: a short interval and deadline. */
export function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<Truthy<T>> {
  return pollUntil(what, check, { timeoutMs, intervalMs: 10 });
}
