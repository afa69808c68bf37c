import { existsSync } from "node:fs";
import type { Clock } from "@latchkey/protocol";
import { DEFAULT_APP_LINK_BASE } from "@latchkey/protocol";
import { createLogger, type Logger } from "@latchkey/runtime";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import type { CloudContext, CloudSettings, RetryPolicy } from "./context.js";
import { logOtpSender, type OtpSender, webhookOtpSender } from "./domain/otp.js";
import { ChangeNotifier } from "./feed/notifier.js";
import { CloudMetrics } from "./ops/metrics.js";
import { MetricsServer } from "./ops/metrics-server.js";
import { type ModeFix, restrictDataDir } from "./security/file-modes.js";
import { IdGenerator, type RandomSource, systemRandom } from "./security/ids.js";
import { checkMasterKey, loadMasterKey, MASTER_KEY_FILE } from "./security/master-key.js";
import { loadOtpKey } from "./security/otp-key.js";
import { hashSecret, newSecret, Sealer } from "./security/secrets.js";
import { type Resolve, systemResolve } from "./security/webhook-target.js";
import { openStore } from "./store/open.js";
import { PgStore } from "./store/postgres/pg-store.js";
import { describeDatabaseUrl } from "./store/postgres/url.js";
import { SqliteStore } from "./store/sqlite/sqlite-store.js";
import type { Store } from "./store/store.js";
import { runNextJob } from "./workers/batch-jobs.js";
import { announceKeyStates } from "./workers/key-states.js";
import { watchLockPresence } from "./workers/lock-presence.js";
import { WorkerLoop } from "./workers/loop.js";
import { maintain } from "./workers/maintenance.js";
import { deliverDueWebhooks } from "./workers/webhook-delivery.js";

export interface CloudOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /**
   * Serve Prometheus metrics (`GET /metrics`, ops/metrics.ts) on this port (0 = a free one), a listener of its own and
   * never the API's; no listener when left out. The process metrics are collected only then.
   */
  metricsPort?: number;
  /** The metrics listener's address, default "127.0.0.1" (the operator's network, not the public one). */
  metricsHost?: string;
  /**
   * Routes outside the product, added to the API's fastify instance before it listens: the bench's unauthenticated
   * ingest baseline (bench/unsigned-ingest.ts). Nothing in production passes any.
   */
  extraRoutes?: (app: FastifyInstance, ctx: CloudContext) => void | Promise<void>;
  /** SQLite file(s) and the master key file live here. */
  dataDir: string;
  /**
   * PostgreSQL instead of SQLite: `postgres://user[:password]@host:5432/database`, with
   * `?options=-c%20search_path%3D<schema>` for a schema of its own (created if missing). Several cloud processes may
   * share one database; they must share the master key too.
   */
  databaseUrl?: string;
  /** PostgreSQL connections per process (default 10). */
  databasePoolMax?: number;
  /** PostgreSQL: long-polls re-read the feed this often even without a notification (ms, default 10 000). */
  changeFeedFallbackPollMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
  /** pino level, default "info". */
  logLevel?: string;
  /** Where pino writes (tests read the development OTP sender's lines here). Default stdout. */
  logStream?: NodeJS.WritableStream;
  /** One-time-code sender; default `otpWebhook` if given, else the development log sender (docs/app-api.md). */
  otpSender?: OtpSender;
  /** The webhook sender: codes POSTed, Standard Webhooks signed, to this URL (checked like integrator webhooks). */
  otpWebhook?: { url: string; secret: string };
  /** App switch URL base (protocol DEFAULT_APP_LINK_BASE by default). */
  linkBase?: string;
  /** Token issuer name (`iss`), default "latchkey". */
  issuerName?: string;
  /** 32-byte master key; default LATCHKEY_MASTER_KEY or `<dataDir>/master.key`. */
  masterKey?: Uint8Array;
  /** Randomness for ids, secrets, keys and retry jitter (seed it in tests). */
  random?: RandomSource;
  /** Webhook retry policy overrides (tests shorten the delays). */
  webhookRetry?: Partial<RetryPolicy>;
  /** How often workers look for due work they were not woken for (ms), default 1000. */
  workerPollMs?: number;
  /** false: no background workers (jobs stay pending; deliveries stay queued). Default true. */
  workers?: boolean;
  settings?: Partial<Omit<CloudSettings, "webhookRetry">>;
  /** DNS for webhook deliveries, default the system resolver (tests map names to addresses without DNS). */
  webhookResolve?: Resolve;
}

export interface RunningCloud {
  /** e.g. http://127.0.0.1:43123 */
  url: string;
  port: number;
  /** The metrics listener's base URL (`${metricsUrl}/metrics`), when `metricsPort` was given. */
  metricsUrl: string | undefined;
  /** The cloud's Prometheus registry and counters (served at `metricsUrl` when there is one). */
  readonly metrics: CloudMetrics;
  /** Graceful: stops workers, closes the server and the database. */
  close(): Promise<void>;
  bootstrap(name?: string): Promise<{ integratorId: string; clientId: string; clientSecret: string }>;
  /** The fastify instance, for `inject` in tests. */
  readonly app: FastifyInstance;
  /** Change-feed requests parked in a long-poll right now (for tests and metrics). */
  waitingLongPolls(): number;
  /** The cloud's store: tests drive domain functions through it that no route calls yet (e.g. domain/claims.ts). */
  readonly store: Store;
}

export const DEFAULT_SETTINGS: CloudSettings = {
  issuerName: "latchkey",
  linkBase: DEFAULT_APP_LINK_BASE,
  accessTokenTtlSeconds: 3600,
  appTokenTtlSeconds: 30 * 86_400,
  openEndedTokenSeconds: 30 * 86_400,
  maxTokenLifetimeSeconds: 30 * 86_400,
  eventWindowDays: 30,
  metadataMaxBytes: 4096,
  // 40 attempts: with full jitter the waits add up to ~14 h on average (at most ~28 h), so a receiver down for hours
  // still gets its deliveries (15 attempts gave up after ~1.5 h on average).
  webhookRetry: { baseDelayMs: 1000, maxDelayMs: 3_600_000, maxAttempts: 40, timeoutMs: 10_000 },
  bridgeOfflineAfterSeconds: 90,
  lockPresenceMinGapSeconds: 60,
  otpPerWindow: 5,
  otpWindowSeconds: 600,
  // At most 10 codes × 5 guesses a day, then lockouts of 1, 2, 4, 8, 16 days: a few hundred guesses a month at a
  // number, about 0.03 % odds of taking it over (it was ~10 % a month).
  otpPerDay: 10,
  otpLockoutSeconds: 86_400,
  otpLockoutMaxSeconds: 30 * 86_400,
  otpCodesPerAddressPerHour: 20,
  otpWrongCodesPerAddressPerHour: 30,
  tokenRequestsPerClient: 60,
  tokenRequestsPerAddress: 300,
  tokenRateWindowSeconds: 60,
  allowPrivateWebhookTargets: false,
  batchChunkKeys: 250,
  batchJobLeaseSeconds: 30,
};

const systemClock: Clock = { now: () => Date.now() };

/** Creates an integrator with client credentials; the secret is returned once and stored only as a hash. */
export async function bootstrapIntegrator(
  store: Store,
  ids: IdGenerator,
  clock: Clock,
  random: RandomSource,
  name = "Integrator",
): Promise<{ integratorId: string; clientId: string; clientSecret: string }> {
  const integratorId = ids.next("int");
  const clientId = ids.next("cl");
  const clientSecret = newSecret(random, "lkcs_");
  const now = clock.now();
  await store.transaction((tx) =>
    tx.integrators.insert(
      { id: integratorId, name, createdAt: now },
      {
        clientId,
        integratorId,
        secretHash: hashSecret(clientSecret),
        previousSecretHash: null,
        previousSecretExpiresAt: null,
        createdAt: now,
      },
    ),
  );
  return { integratorId, clientId, clientSecret };
}

export async function startCloud(options: CloudOptions): Promise<RunningCloud> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  // Secrets never reach the log, even if someone logs a request's headers or body by mistake (one redaction list for
  // every process: @latchkey/runtime).
  const logger = createLogger({
    service: "latchkey-cloud",
    level: options.logLevel ?? "info",
    destination: options.logStream ?? process.stdout,
  });
  const store = await openStore({
    ...options,
    onError: (err, what) => logger.warn({ err }, `${what} failed`),
  });
  logger.info(
    store instanceof PgStore
      ? { store: "postgres", database: describeDatabaseUrl(options.databaseUrl ?? ""), schema: store.schema }
      : { store: "sqlite", dataDir: options.dataDir },
    "store open",
  );
  let app: FastifyInstance | undefined;
  let metricsServer: MetricsServer | undefined;
  const loops: WorkerLoop[] = [];
  let unwatch = () => {};
  try {
    for (const fix of [
      ...(store instanceof SqliteStore ? store.modeFixes : []),
      ...masterKeyFileFix(options.dataDir),
    ]) {
      logger.warn(
        fix,
        `narrowed the mode of ${fix.path} from ${fix.was} to ${fix.now}: other local users could read it`,
      );
    }
    const masterKey = options.masterKey ?? loadMasterKey(options.dataDir, random, process.env.LATCHKEY_MASTER_KEY);
    await checkMasterKey(store, masterKey);
    const sealer = new Sealer(masterKey, random);
    const otpKey = await loadOtpKey(store, sealer, random);
    const settings: CloudSettings = {
      ...DEFAULT_SETTINGS,
      ...options.settings,
      ...(options.linkBase ? { linkBase: options.linkBase } : {}),
      ...(options.issuerName ? { issuerName: options.issuerName } : {}),
      webhookRetry: { ...DEFAULT_SETTINGS.webhookRetry, ...options.webhookRetry },
    };
    const otpSender = options.otpSender ?? otpSenderFor(options, settings, logger);
    const notifier = new ChangeNotifier();
    const ids = new IdGenerator(clock, random);
    const onError = (what: string) => (err: unknown) => logger.error({ err }, `${what} worker failed`);
    const pollMs = options.workerPollMs ?? 1000;
    const jobs = new WorkerLoop(
      async () => {
        while (await runNextJob(ctx)) {}
        return undefined;
      },
      pollMs,
      onError("batch job"),
    );
    const webhooks = new WorkerLoop(() => deliverDueWebhooks(ctx), pollMs, onError("webhook"));
    const maintenance = new WorkerLoop(() => maintain(ctx), 60_000, onError("maintenance"));
    const keyStates = new WorkerLoop(() => announceKeyStates(ctx), pollMs, onError("key state"));
    const presence = new WorkerLoop(() => watchLockPresence(ctx), pollMs, onError("lock presence"));
    const ctx: CloudContext = {
      store,
      clock,
      ids,
      random,
      sealer,
      otpKey,
      notifier,
      otpSender,
      settings,
      webhookResolve: options.webhookResolve ?? systemResolve,
      log: logger,
      wake: { jobs: () => jobs.wake(), webhooks: () => webhooks.wake() },
      metrics: new CloudMetrics({ processMetrics: options.metricsPort !== undefined }),
    };
    app = await buildApp(ctx, logger);
    await options.extraRoutes?.(app, ctx);
    app.addHook("preClose", async () => notifier.close());
    // Changes committed by other cloud processes on the same database wake this process's long-polls too.
    unwatch = store.watchChanges(() => notifier.notify());
    await app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 0 });
    if (options.metricsPort !== undefined) {
      metricsServer = new MetricsServer(ctx.metrics);
      await metricsServer.listen(options.metricsHost ?? "127.0.0.1", options.metricsPort);
    }
    if (options.workers !== false) {
      loops.push(jobs, webhooks, maintenance, keyStates, presence);
      for (const loop of loops) loop.start();
    }
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : (options.port ?? 0);
    const host = options.host ?? "127.0.0.1";
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
    const running = app;
    let closing: Promise<void> | undefined;
    const served = metricsServer;
    logger.info(
      { url, docs: `${url}/docs`, ...(served ? { metrics: `${served.url}/metrics` } : {}) },
      "latchkey cloud listening",
    );
    return {
      url,
      port,
      metricsUrl: served?.url,
      metrics: ctx.metrics,
      app: running,
      store,
      waitingLongPolls: () => notifier.waiting,
      bootstrap: (name?: string) => bootstrapIntegrator(store, ids, clock, random, name),
      close() {
        closing ??= (async () => {
          unwatch();
          await Promise.all(loops.map((l) => l.stop()));
          await closeServer(running);
          await served?.close();
          await store.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    unwatch();
    await Promise.all(loops.map((l) => l.stop()));
    await app?.close().catch(() => undefined);
    await metricsServer?.close();
    await store.close();
    throw err;
  }
}

/** The master key file (with PostgreSQL, the only file in the data directory) at 0600 in a 0700 directory. */
function masterKeyFileFix(dataDir: string): ModeFix[] {
  return existsSync(dataDir) ? restrictDataDir(dataDir, [MASTER_KEY_FILE]) : [];
}

/** The configured webhook sender, else the development log sender, announced as such in the log. */
function otpSenderFor(options: CloudOptions, settings: CloudSettings, logger: Logger): OtpSender {
  if (options.otpWebhook) {
    return webhookOtpSender({
      ...options.otpWebhook,
      resolve: options.webhookResolve ?? systemResolve,
      allowPrivate: settings.allowPrivateWebhookTargets,
    });
  }
  logger.warn(
    { otpSender: "log" },
    "one-time codes are written to this log (development sender): not for production, see docs/app-api.md",
  );
  return logOtpSender(logger);
}

/**
 * Graceful close: in-flight requests finish (parked long-polls are answered by the notifier's preClose hook), then
 * each keep-alive socket is closed as soon as it falls idle, rather than lingering until its keep-alive timeout;
 * whatever is still open after the grace period is cut.
 */
async function closeServer(app: FastifyInstance, graceMs = 10_000): Promise<void> {
  const started = Date.now();
  const sweep = setInterval(() => {
    if (Date.now() - started > graceMs) app.server.closeAllConnections();
    else app.server.closeIdleConnections();
  }, 100);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
  }
}
