import { addCliOptions, type CliOptions, readCliOptions, UsageError } from "@latchkey/runtime";
import { Type } from "@sinclair/typebox";
import { Command, CommanderError } from "commander";
import { bootstrapIntegrator, startCloud } from "../cloud.js";
import { OtpWebhookConfigError } from "../domain/otp.js";
import { IdGenerator, systemRandom } from "../security/ids.js";
import { openStore } from "../store/open.js";
import { DatabaseOpenError } from "../store/postgres/pg-store.js";
import { checkDatabaseUrl, DatabaseUrlError } from "../store/postgres/url.js";
import { SqliteStore } from "../store/sqlite/sqlite-store.js";
import { PACKAGE_VERSION } from "./version.js";

/**
 * latchkey-cloud (docs/design.md section 5): `serve` (the default) and `bootstrap`. Flags win over the environment
 * (LATCHKEY_PORT, LATCHKEY_DATA, LATCHKEY_LOG_LEVEL, LATCHKEY_ALLOW_PRIVATE_WEBHOOKS, LATCHKEY_MAX_TOKEN_LIFETIME_SECONDS,
 * LATCHKEY_OTP_WEBHOOK, LATCHKEY_DEV_OTP_LOG; LATCHKEY_BATCH_CHUNK_KEYS and LATCHKEY_BATCH_JOB_LEASE_SECONDS have no
 * flag). DATABASE_URL (and DATABASE_POOL_MAX) select PostgreSQL, and LATCHKEY_OTP_WEBHOOK_SECRET signs one-time-code
 * webhooks: both are read from the environment only (a URL may carry a password, and flags show in `ps`). Exit 2 on a
 * usage error, naming the flag or variable.
 */

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const Port = (description: string) => Type.Integer({ minimum: 0, maximum: 65_535, description });
/** The token lifetime cap (review 12.6): whole seconds, from one hour to 366 days. */
const TokenLifetime = Type.Integer({ minimum: 3600, maximum: 366 * 86_400 });

/** Where the store is, for both commands: DATABASE_URL (and DATABASE_POOL_MAX) select PostgreSQL, from env only. */
const STORE_OPTIONS = {
  databaseUrl: { env: "DATABASE_URL", description: "PostgreSQL URL", schema: Type.String({ secret: true }) },
  databasePoolMax: {
    env: "DATABASE_POOL_MAX",
    description: "PostgreSQL pool size",
    schema: Type.Integer({ minimum: 1, maximum: 9999 }),
  },
} satisfies CliOptions;

const SERVE_OPTIONS = {
  port: {
    flags: "--port <n>",
    description: "port to listen on (0 = any free port)",
    env: "LATCHKEY_PORT",
    schema: Port("a port number from 0 to 65535"),
    default: 8080,
  },
  host: { flags: "--host <address>", description: "address to listen on", schema: Type.String(), default: "127.0.0.1" },
  metricsPort: {
    flags: "--metrics-port <n>",
    description:
      "serve Prometheus metrics (GET /metrics) on this port, a listener of its own (never the API's port); off unless given",
    schema: Port("a port number from 0 to 65535"),
  },
  metricsHost: {
    flags: "--metrics-host <address>",
    description: "address of the metrics listener (default 127.0.0.1)",
    schema: Type.String(),
  },
  data: {
    flags: "--data <dir>",
    description: "data directory (SQLite, master key)",
    env: "LATCHKEY_DATA",
    schema: Type.String(),
    default: "./data",
  },
  logLevel: {
    flags: "--log-level <level>",
    description: "pino log level",
    env: "LATCHKEY_LOG_LEVEL",
    schema: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l))),
    default: "info",
  },
  linkBase: { flags: "--link-base <url>", description: "app switch URL base", schema: Type.String() },
  issuer: { flags: "--issuer <name>", description: "token issuer name (iss)", schema: Type.String() },
  maxTokenLifetime: {
    flags: "--max-token-lifetime <seconds>",
    description:
      "the most any key token lives from its minting, whole seconds from 3600 to 31622400 (default 2592000, 30 days; " +
      "phones re-prefetch)",
    env: "LATCHKEY_MAX_TOKEN_LIFETIME_SECONDS",
    schema: TokenLifetime,
  },
  allowPrivateWebhooks: {
    flags: "--allow-private-webhooks",
    description: "let webhook URLs reach loopback, private and other non-public addresses (on-premises, tests)",
    env: "LATCHKEY_ALLOW_PRIVATE_WEBHOOKS",
    schema: Type.Boolean(),
  },
  otpWebhook: {
    flags: "--otp-webhook <url>",
    description:
      "send one-time codes to this URL (POST, Standard Webhooks signed with env LATCHKEY_OTP_WEBHOOK_SECRET)",
    env: "LATCHKEY_OTP_WEBHOOK",
    schema: Type.String(),
  },
  otpWebhookSecret: {
    env: "LATCHKEY_OTP_WEBHOOK_SECRET",
    description: "the one-time-code webhook's signing secret",
    schema: Type.String({ secret: true }),
  },
  devOtpLog: {
    flags: "--dev-otp-log",
    description: "development only: write one-time codes to the log instead of sending them",
    env: "LATCHKEY_DEV_OTP_LOG",
    schema: Type.Boolean(),
  },
  batchChunkKeys: {
    env: "LATCHKEY_BATCH_CHUNK_KEYS",
    description: "keys per batch job chunk",
    schema: Type.Integer({ minimum: 1, maximum: 1000 }),
  },
  batchJobLeaseSeconds: {
    env: "LATCHKEY_BATCH_JOB_LEASE_SECONDS",
    description: "seconds before a batch job whose worker died is taken over",
    schema: Type.Integer({ minimum: 1, maximum: 3600 }),
  },
  ...STORE_OPTIONS,
} satisfies CliOptions;

const BOOTSTRAP_OPTIONS = {
  data: {
    flags: "--data <dir>",
    description: "data directory",
    env: "LATCHKEY_DATA",
    schema: Type.String(),
    default: "./data",
  },
  name: { flags: "--name <name>", description: "integrator name", schema: Type.String(), default: "Integrator" },
  json: {
    flags: "--json",
    description: "print {integratorId, clientId, clientSecret} as JSON",
    schema: Type.Boolean(),
  },
  ...STORE_OPTIONS,
} satisfies CliOptions;

/** The store's settings: the URL checked here so a mistake is a usage error naming DATABASE_URL (never its password). */
function storeSettings(o: { databaseUrl?: string; databasePoolMax?: number }) {
  if (o.databaseUrl !== undefined) {
    try {
      checkDatabaseUrl(o.databaseUrl, "DATABASE_URL");
    } catch (e) {
      throw e instanceof DatabaseUrlError ? new UsageError(e.message) : e;
    }
  }
  return {
    ...(o.databaseUrl !== undefined ? { databaseUrl: o.databaseUrl } : {}),
    ...(o.databasePoolMax !== undefined ? { databasePoolMax: o.databasePoolMax } : {}),
  };
}

export async function runCloudCli(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const program = new Command("latchkey-cloud")
    .description("latchkey cloud: Integrator API, bridge API and phone app API")
    .version(PACKAGE_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showSuggestionAfterError();
  let action: (() => Promise<number>) | undefined;

  addCliOptions(program.command("serve", { isDefault: true }).description("run the API server"), SERVE_OPTIONS).action(
    (flags: Record<string, unknown>) => {
      action = async () => {
        const opts = readCliOptions(SERVE_OPTIONS, flags, io.env);
        const store = storeSettings(opts);
        if (opts.linkBase !== undefined) {
          try {
            new URL(opts.linkBase);
          } catch {
            throw new UsageError(`--link-base must be an absolute URL, not ${JSON.stringify(opts.linkBase)}`);
          }
        }
        const metrics = metricsSetting(opts.metricsPort, opts.metricsHost, opts.port);
        const otpWebhook = otpWebhookSetting(opts.otpWebhook, opts.otpWebhookSecret, {
          devOtpLog: opts.devOtpLog === true,
        });
        const cloud = await startCloud({
          ...(otpWebhook ? { otpWebhook } : {}),
          host: opts.host,
          port: opts.port,
          ...metrics,
          dataDir: opts.data,
          ...store,
          logLevel: opts.logLevel,
          ...(opts.linkBase ? { linkBase: opts.linkBase } : {}),
          ...(opts.issuer ? { issuerName: opts.issuer } : {}),
          settings: {
            allowPrivateWebhookTargets: opts.allowPrivateWebhooks === true,
            ...(opts.batchChunkKeys !== undefined ? { batchChunkKeys: opts.batchChunkKeys } : {}),
            ...(opts.batchJobLeaseSeconds !== undefined ? { batchJobLeaseSeconds: opts.batchJobLeaseSeconds } : {}),
            ...(opts.maxTokenLifetime !== undefined ? { maxTokenLifetimeSeconds: opts.maxTokenLifetime } : {}),
          },
        });
        io.err(`latchkey-cloud listening on ${cloud.url} (docs: ${cloud.url}/docs)\n`);
        if (cloud.metricsUrl) io.err(`latchkey-cloud metrics on ${cloud.metricsUrl}/metrics\n`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off("SIGTERM", stop);
            process.off("SIGINT", stop);
            resolve();
          };
          process.on("SIGTERM", stop);
          process.on("SIGINT", stop);
        });
        await cloud.close();
        return 0;
      };
    },
  );

  addCliOptions(
    program
      .command("bootstrap")
      .description("create an integrator and print its client credentials (the secret is shown only now)"),
    BOOTSTRAP_OPTIONS,
  ).action((flags: Record<string, unknown>) => {
    action = async () => {
      const opts = readCliOptions(BOOTSTRAP_OPTIONS, flags, io.env);
      const store = await openStore({ dataDir: opts.data, ...storeSettings(opts) });
      // `serve` logs what it narrowed; bootstrap, which may be the first to open the data directory, says it here.
      for (const fix of store instanceof SqliteStore ? store.modeFixes : []) {
        io.err(`latchkey-cloud: narrowed the mode of ${fix.path} from ${fix.was} to ${fix.now}\n`);
      }
      try {
        const clock = { now: () => Date.now() };
        const creds = await bootstrapIntegrator(
          store,
          new IdGenerator(clock, systemRandom),
          clock,
          systemRandom,
          opts.name,
        );
        if (opts.json) io.out(`${JSON.stringify(creds)}\n`);
        else {
          io.out(
            `integrator ${creds.integratorId}\nclient id ${creds.clientId}\nclient secret ${creds.clientSecret}\n` +
              "(the secret is not stored in the clear: keep it now)\n",
          );
        }
        return 0;
      } finally {
        await store.close();
      }
    };
  });

  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? 0 : 2;
    }
    throw e;
  }
  if (!action) return 0;
  try {
    return await action();
  } catch (e) {
    if (e instanceof UsageError || e instanceof OtpWebhookConfigError) {
      io.err(`latchkey-cloud: ${e.message}\n`);
      return 2;
    }
    if (e instanceof DatabaseOpenError) {
      io.err(`latchkey-cloud: DATABASE_URL: ${e.message}\n`);
      return 1;
    }
    io.err(`latchkey-cloud: ${(e as Error).message}\n`);
    return 1;
  }
}

/**
 * The metrics listener (ops/metrics-server.ts): off unless `--metrics-port` is given; never the API's port, so the
 * operator's counters are not served to whoever reaches the API (0, a free port, is never the same).
 */
function metricsSetting(
  metricsPort: number | undefined,
  metricsHost: string | undefined,
  apiPort: number,
): { metricsPort?: number; metricsHost?: string } {
  if (metricsPort === undefined) {
    if (metricsHost !== undefined)
      throw new UsageError("--metrics-host needs --metrics-port (metrics are off without it)");
    return {};
  }
  if (metricsPort !== 0 && metricsPort === apiPort) {
    throw new UsageError(
      `--metrics-port ${metricsPort} is the API's port: metrics get a port of their own, never the public API's`,
    );
  }
  return { metricsPort, ...(metricsHost !== undefined ? { metricsHost } : {}) };
}

/**
 * Where one-time codes go (docs/app-api.md): a webhook, or the log only when development mode is asked for by name. A
 * production cloud that silently wrote codes to its log would hand phone numbers to whoever reads the log.
 */
function otpWebhookSetting(
  url: string | undefined,
  secret: string | undefined,
  { devOtpLog }: { devOtpLog: boolean },
): { url: string; secret: string } | undefined {
  if (url !== undefined && devOtpLog) {
    throw new UsageError("--otp-webhook and --dev-otp-log (LATCHKEY_DEV_OTP_LOG=1) exclude each other: choose one");
  }
  if (url !== undefined) {
    if (secret === undefined) {
      throw new UsageError("--otp-webhook needs LATCHKEY_OTP_WEBHOOK_SECRET (whsec_<base64>) to sign with");
    }
    return { url, secret };
  }
  if (devOtpLog) return undefined;
  throw new UsageError(
    "no one-time-code sender: give --otp-webhook <url> (LATCHKEY_OTP_WEBHOOK, with LATCHKEY_OTP_WEBHOOK_SECRET), or " +
      "for development only --dev-otp-log (LATCHKEY_DEV_OTP_LOG=1), which writes the codes to the log",
  );
}

function defaultIo(): CliIo {
  return { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env };
}
