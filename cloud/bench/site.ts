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
import { Client, escapeIdentifier } from "pg";
import { type RunningCloud, startCloud } from "../src/cloud.js";
import type { OtpSender } from "../src/domain/otp.js";
import { withSearchPath } from "../src/store/postgres/url.js";
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
  /** Integrator token. */
  token: string;
  lockHolderId: string;
  /** The bridge-served vendor connection every lock is under (the feed entries of its keys name it). */
  vendorConnectionId: string;
  bridgeToken: string;
  lockIds: string[];
  locks: BenchLock[];
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
    const call = async <T>(method: string, path: string, token: string, body?: unknown) => {
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
    const expectStatus = <T>(what: string, status: number, answer: { status: number; body: T }): T => {
      if (answer.status !== status) throw new Error(`bench setup: ${what} answered ${answer.status}`);
      return answer.body;
    };
    // Raw calls, not scripts' typed client: the cloud cannot import scripts (scripts imports the cloud).
    const grant = (clientId: string, clientSecret: string, scope: string) =>
      fetch(`${url}/auth/v1/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          grant_type: "client_credentials",
          client_id: clientId,
          client_secret: clientSecret,
          scope,
        }),
      })
        .then((r) => r.json() as Promise<{ access_token: string }>)
        .then((answer) => answer.access_token);
    const creds = await cloud.bootstrap("Bench");
    const token = await grant(creds.clientId, creds.clientSecret, "integrator.admin");
    const lh = expectStatus(
      "lock holder",
      201,
      await call<{ id: string }>("POST", "/integrators/v1/lock-holders", token, { name: "Bench", countryIso: "NO" }),
    );
    const base = `/integrators/v1/lock-holders/${lh.id}`;
    const bridge = expectStatus(
      "bridge",
      201,
      await call<{ bridgeId: string; secret: string }>("POST", `${base}/bridges`, token, { name: "gw" }),
    );
    const bridgeToken = await grant(bridge.bridgeId, bridge.secret, "bridge");
    // A bridge-served connection, as on a real site: every key created also goes on the bridge's change feed.
    const vc = expectStatus(
      "vendor connection",
      201,
      await call<{ vendorConnection: { id: string } }>("POST", `${base}/vendor-connections`, token, {
        vendor: "sim",
        username: "bench",
        password: "bench-password",
        bridgeId: bridge.bridgeId,
      }),
    );
    const lockIds = Array.from({ length: options.locks ?? 10 }, (_, i) => `bench-lock-${i + 1}`);
    expectStatus(
      "found locks",
      200,
      await call("PUT", `/bridge/v1/vendor-connections/${vc.vendorConnection.id}/locks`, bridgeToken, {
        locks: lockIds.map((id) => ({ id })),
      }),
    );
    const locks = lockIds.map(benchLock);
    for (const lock of locks) {
      const setupCode = encodeSetupCode({
        lockId: lock.lockId,
        claimSecret: lock.claimSecret,
        fingerprint: fingerprint(lock.keys),
      });
      expectStatus("claim", 201, await call("POST", `${base}/locks/claims`, token, { setupCode }));
    }
    expectStatus(
      "state",
      204,
      await call("PUT", `/bridge/v1/vendor-connections/${vc.vendorConnection.id}/state`, bridgeToken, {
        state: "connected",
      }),
    );
    const running = cloud;
    return {
      store: options.databaseUrl ? "postgres" : "sqlite",
      url,
      cloud: running,
      token,
      lockHolderId: lh.id,
      vendorConnectionId: vc.vendorConnection.id,
      bridgeToken,
      lockIds,
      locks,
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
