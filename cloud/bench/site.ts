import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import {
  encodeSetupCode,
  fingerprint,
  keyPairFromSeed,
  type LockPublicKeys,
  toBase64Url,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import { BridgeApiClient, type ClientCredentials, IntegratorApiClient } from "@latchkey/protocol/clients";
import { Client, escapeIdentifier } from "pg";
import { type RunningCloud, startCloud } from "../src/cloud.js";
import type { OtpSender } from "../src/domain/otp.js";
import { withSearchPath } from "../src/store/postgres/url.js";
import type { SeedTarget } from "./seed-events.js";
import { unsignedIngestRoutes } from "./unsigned-ingest.js";

export type BenchStore = "sqlite" | "postgres";

/** A lock of the bench site as its factory made it: what it needs to verify its state and seal reports. */
export interface BenchLock {
  lockId: string;
  claimSecret: Uint8Array;
  keys: LockPublicKeys;
  xPrivate: Uint8Array;
  /** The public keys as a report upload carries them (base64url). */
  wireKeys: { identity: string; x25519: string };
}

function benchLock(lockId: string): BenchLock {
  const identity = keyPairFromSeed(new Uint8Array(randomBytes(32))).publicKey;
  const agreement = x25519KeyPairFromSeed(new Uint8Array(randomBytes(32)));
  return {
    lockId,
    claimSecret: new Uint8Array(randomBytes(16)),
    keys: { identityKey: identity, agreementKey: agreement.publicKey },
    xPrivate: agreement.privateKey,
    wireKeys: { identity: toBase64Url(identity), x25519: toBase64Url(agreement.publicKey) },
  };
}

/**
 * A cloud set up as a site's would be, driven over real HTTP: an integrator, a lock holder, a bridge and its locks,
 * each claimed with its setup code (docs/design.md section 7: keys only for claimed locks). Beside the product's routes
 * it has the bench's unauthenticated ingest (bench/unsigned-ingest.ts), the baseline of the report-ingest row.
 */
export interface BenchSite {
  store: BenchStore;
  url: string;
  cloud: RunningCloud;
  /** The integrator's typed client (logged in). */
  integrator: IntegratorApiClient;
  /** The site's bridge, as a typed client of the bridge API (logged in; `accessToken` for raw timed posts). */
  bridge: BridgeApiClient;
  lockHolderId: string;
  /** The bridge-served vendor connection every lock is under (the feed entries of its keys name it). */
  vendorConnectionId: string;
  /** The integrator's and the bridge's bearer tokens, for the raw timed calls of the curves (`call`). */
  token: string;
  bridgeToken: string;
  /** What the two clients logged in with: a bench process on the same schema logs in its own clients with them. */
  credentials: { integrator: ClientCredentials; bridge: { bridgeId: string; secret: string } };
  lockIds: string[];
  locks: BenchLock[];
  /** The site's database, for a bench that seeds rows into it on a connection of its own (seed-events.ts). */
  seedTarget: SeedTarget;
  /** A raw call, for timed requests whose JSON handling the typed clients would add to the figure. */
  call<T = unknown>(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: T }>;
  /**
   * PostgreSQL: ANALYZE the tables a bench seeded straight into the store, as autovacuum would a minute or so after a
   * bulk load (without it the planner still believes them empty: a 1,000-key prefetch read 1M keys, 3.3 s a query).
   */
  analyze(): Promise<void>;
  close(): Promise<void>;
}

const discard = () =>
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });

/**
 * Starts a cloud on SQLite in a temp directory or, given a database URL, on a fresh schema of that database (dropped
 * on close). Logs go nowhere: the figures are the cloud's, not a terminal's.
 */
/** BenchSite's `call` on the cloud at `url`: fetch and JSON, nothing more. */
export const rawCall =
  (url: string): BenchSite["call"] =>
  async <T>(method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as T };
  };

export async function startBenchSite(
  options: {
    databaseUrl?: string;
    locks?: number;
    otpSender?: OtpSender;
    /** A schema another process shares (the caller makes and drops it), instead of a fresh one dropped on close. */
    schema?: string;
    /** The master key every process on the schema must share (default: a fresh one). */
    masterKey?: Uint8Array;
  } = {},
): Promise<BenchSite> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-"));
  const schema = options.databaseUrl
    ? (options.schema ?? `lk_bench_${process.pid}_${randomBytes(4).toString("hex")}`)
    : undefined;
  const dropSchema = async () => {
    if (!schema || !options.databaseUrl || options.schema) return;
    const admin = new Client({ connectionString: options.databaseUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`);
    await admin.end();
  };
  let cloud: RunningCloud | undefined;
  try {
    cloud = await startCloud({
      dataDir: dir,
      port: 0,
      logLevel: "warn",
      logStream: discard(),
      masterKey: options.masterKey ?? new Uint8Array(randomBytes(32)),
      // The report-ingest row's baseline: an unauthenticated ingest only the bench registers.
      extraRoutes: unsignedIngestRoutes,
      ...(options.otpSender ? { otpSender: options.otpSender } : {}),
      ...(options.databaseUrl && schema ? { databaseUrl: withSearchPath(options.databaseUrl, schema) } : {}),
    });
    const url = cloud.url;
    // protocol's typed clients (`@latchkey/protocol/clients`): the cloud cannot import scripts, which imports the cloud.
    const integratorCredentials = await cloud.bootstrap("Bench");
    const integrator = await IntegratorApiClient.login(url, integratorCredentials);
    const lh = await integrator.createLockHolder({ name: "Bench", countryIso: "NO" });
    const registered = await integrator.registerBridge(lh.id, "gw");
    const bridgeCredentials = { bridgeId: registered.bridgeId, secret: registered.secret };
    const bridge = await BridgeApiClient.login(url, bridgeCredentials);
    // A bridge-served connection, as on a real site: every key created also goes on the bridge's change feed.
    const vc = await integrator.createVendorConnection(lh.id, {
      vendor: "sim",
      username: "bench",
      password: "bench-password",
      bridgeId: registered.bridgeId,
    });
    const lockIds = Array.from({ length: options.locks ?? 10 }, (_, i) => `bench-lock-${i + 1}`);
    await bridge.reportLocks(vc.id, { locks: lockIds.map((id) => ({ id })) });
    const locks = lockIds.map(benchLock);
    for (const lock of locks) {
      const setupCode = encodeSetupCode({
        lockId: lock.lockId,
        claimSecret: lock.claimSecret,
        fingerprint: fingerprint(lock.keys),
      });
      const { created } = await integrator.claimLock(lh.id, setupCode);
      if (!created) throw new Error(`bench setup: ${lock.lockId} was claimed already`);
    }
    await bridge.reportState(vc.id, { state: "connected" });
    const call = rawCall(url);
    const running = cloud;
    return {
      store: options.databaseUrl ? "postgres" : "sqlite",
      url,
      cloud: running,
      integrator,
      bridge,
      lockHolderId: lh.id,
      vendorConnectionId: vc.id,
      token: integrator.accessToken,
      bridgeToken: bridge.accessToken,
      credentials: { integrator: integratorCredentials, bridge: bridgeCredentials },
      lockIds,
      locks,
      seedTarget:
        options.databaseUrl && schema
          ? { store: "postgres", url: withSearchPath(options.databaseUrl, schema) }
          : { store: "sqlite", dataDir: dir },
      call,
      async analyze() {
        if (!options.databaseUrl || !schema) return;
        const client = new Client({ connectionString: withSearchPath(options.databaseUrl, schema) });
        await client.connect();
        try {
          await client.query("ANALYZE keys, changes, events, locks");
        } finally {
          await client.end();
        }
      },
      async close() {
        await running.close();
        rmSync(dir, { recursive: true, force: true });
        await dropSchema();
      },
    };
  } catch (err) {
    await cloud?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await dropSchema().catch(() => undefined);
    throw err;
  }
}
