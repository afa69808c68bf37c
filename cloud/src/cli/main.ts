import { UsageError } from "@latchkey/runtime";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
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
 * LATCHKEY_OTP_WEBHOOK, LATCHKEY_DEV_OTP_LOG; LATCHKEY_BATCH_CHUNK_KEYS has no flag). DATABASE_URL (and
 * DATABASE_POOL_MAX) select PostgreSQL, and LATCHKEY_OTP_WEBHOOK_SECRET signs one-time-code webhooks: both are read
 * from the environment only (a URL may carry a password, and flags show in `ps`). Exit 2 on a usage error, naming the
 * flag or variable.
 */

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function port(value: string, flag = "--port"): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65_535) {
    throw new InvalidArgumentError(`${flag} must be a port number from 0 to 65535, not ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** The token lifetime cap (review 12.6): whole seconds, from one hour to 366 days. */
const MIN_TOKEN_LIFETIME_S = 3600;
const MAX_TOKEN_LIFETIME_S = 366 * 86_400;

function tokenLifetime(value: string, name: string): number {
  const n = Number(value);
  if (!/^\d{1,9}$/.test(value) || n < MIN_TOKEN_LIFETIME_S || n > MAX_TOKEN_LIFETIME_S) {
    throw new InvalidArgumentError(
      `${name} must be whole seconds from ${MIN_TOKEN_LIFETIME_S} to ${MAX_TOKEN_LIFETIME_S}, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function fromEnv(env: NodeJS.ProcessEnv) {
  const envPort = env.LATCHKEY_PORT;
  let p: number | undefined;
  if (envPort !== undefined && envPort !== "") {
    try {
      p = port(envPort, "LATCHKEY_PORT");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const level = env.LATCHKEY_LOG_LEVEL;
  if (level && !LOG_LEVELS.includes(level)) {
    throw new UsageError(`LATCHKEY_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined) {
    try {
      checkDatabaseUrl(databaseUrl, "DATABASE_URL");
    } catch (e) {
      throw e instanceof DatabaseUrlError ? new UsageError(e.message) : e;
    }
  }
  const poolMax = env.DATABASE_POOL_MAX || undefined;
  if (poolMax !== undefined && !(/^\d{1,4}$/.test(poolMax) && Number(poolMax) >= 1)) {
    throw new UsageError(`DATABASE_POOL_MAX must be a whole number from 1 to 9999, not ${JSON.stringify(poolMax)}`);
  }
  const allowPrivate = env.LATCHKEY_ALLOW_PRIVATE_WEBHOOKS || undefined;
  if (allowPrivate !== undefined && allowPrivate !== "1" && allowPrivate !== "0") {
    throw new UsageError(`LATCHKEY_ALLOW_PRIVATE_WEBHOOKS must be 1 or 0, not ${JSON.stringify(allowPrivate)}`);
  }
  const lifetime = env.LATCHKEY_MAX_TOKEN_LIFETIME_SECONDS || undefined;
  let maxTokenLifetimeSeconds: number | undefined;
  if (lifetime !== undefined) {
    try {
      maxTokenLifetimeSeconds = tokenLifetime(lifetime, "LATCHKEY_MAX_TOKEN_LIFETIME_SECONDS");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const chunk = env.LATCHKEY_BATCH_CHUNK_KEYS || undefined;
  if (chunk !== undefined && !(/^\d{1,4}$/.test(chunk) && Number(chunk) >= 1 && Number(chunk) <= 1000)) {
    throw new UsageError(
      `LATCHKEY_BATCH_CHUNK_KEYS must be a whole number from 1 to 1000, not ${JSON.stringify(chunk)}`,
    );
  }
  const devOtpLog = env.LATCHKEY_DEV_OTP_LOG || undefined;
  if (devOtpLog !== undefined && devOtpLog !== "1" && devOtpLog !== "0") {
    throw new UsageError(`LATCHKEY_DEV_OTP_LOG must be 1 or 0, not ${JSON.stringify(devOtpLog)}`);
  }
  return {
    port: p,
    otpWebhook: env.LATCHKEY_OTP_WEBHOOK || undefined,
    otpWebhookSecret: env.LATCHKEY_OTP_WEBHOOK_SECRET || undefined,
    devOtpLog: devOtpLog === "1",
    data: env.LATCHKEY_DATA || undefined,
    ...(chunk !== undefined ? { batchChunkKeys: Number(chunk) } : {}),
    ...(maxTokenLifetimeSeconds !== undefined ? { maxTokenLifetimeSeconds } : {}),
    allowPrivateWebhooks: allowPrivate === "1",
    database: {
      ...(databaseUrl !== undefined ? { databaseUrl } : {}),
      ...(poolMax !== undefined ? { databasePoolMax: Number(poolMax) } : {}),
    },
    logLevel: level || undefined,
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

  program
    .command("serve", { isDefault: true })
    .description("run the API server")
    .option("--port <n>", "port to listen on (0 = any free port); env LATCHKEY_PORT", (v) => port(v))
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option(
      "--metrics-port <n>",
      "serve Prometheus metrics (GET /metrics) on this port, a listener of its own (never the API's port); off unless given",
      (v) => port(v, "--metrics-port"),
    )
    .option("--metrics-host <address>", "address of the metrics listener (default 127.0.0.1)")
    .option("--data <dir>", "data directory (SQLite, master key); env LATCHKEY_DATA", undefined)
    .addOption(new Option("--log-level <level>", "pino log level; env LATCHKEY_LOG_LEVEL").choices(LOG_LEVELS))
    .option("--link-base <url>", "app switch URL base")
    .option("--issuer <name>", "token issuer name (iss)")
    .option(
      "--max-token-lifetime <seconds>",
      "the most any key token lives from its minting (default 2592000, 30 days; phones re-prefetch); env " +
        "LATCHKEY_MAX_TOKEN_LIFETIME_SECONDS",
      (v) => tokenLifetime(v, "--max-token-lifetime"),
    )
    .option(
      "--allow-private-webhooks",
      "let webhook URLs reach loopback, private and other non-public addresses (on-premises, tests); env " +
        "LATCHKEY_ALLOW_PRIVATE_WEBHOOKS=1",
    )
    .option(
      "--otp-webhook <url>",
      "send one-time codes to this URL (POST, Standard Webhooks signed with env LATCHKEY_OTP_WEBHOOK_SECRET); env " +
        "LATCHKEY_OTP_WEBHOOK",
    )
    .option(
      "--dev-otp-log",
      "development only: write one-time codes to the log instead of sending them; env LATCHKEY_DEV_OTP_LOG=1",
    )
    .action(
      (opts: {
        port?: number;
        host: string;
        metricsPort?: number;
        metricsHost?: string;
        data?: string;
        logLevel?: string;
        linkBase?: string;
        issuer?: string;
        allowPrivateWebhooks?: boolean;
        maxTokenLifetime?: number;
        otpWebhook?: string;
        devOtpLog?: boolean;
      }) => {
        action = async () => {
          const env = fromEnv(io.env);
          if (opts.linkBase !== undefined) {
            try {
              new URL(opts.linkBase);
            } catch {
              throw new UsageError(`--link-base must be an absolute URL, not ${JSON.stringify(opts.linkBase)}`);
            }
          }
          const apiPort = opts.port ?? env.port ?? 8080;
          const metrics = metricsSetting(opts.metricsPort, opts.metricsHost, apiPort);
          const otpWebhook = otpWebhookSetting(opts.otpWebhook ?? env.otpWebhook, env.otpWebhookSecret, {
            devOtpLog: opts.devOtpLog === true || env.devOtpLog,
          });
          const cloud = await startCloud({
            ...(otpWebhook ? { otpWebhook } : {}),
            host: opts.host,
            port: apiPort,
            ...metrics,
            dataDir: opts.data ?? env.data ?? "./data",
            ...env.database,
            logLevel: opts.logLevel ?? env.logLevel ?? "info",
            ...(opts.linkBase ? { linkBase: opts.linkBase } : {}),
            ...(opts.issuer ? { issuerName: opts.issuer } : {}),
            settings: {
              allowPrivateWebhookTargets: opts.allowPrivateWebhooks === true || env.allowPrivateWebhooks,
              ...(env.batchChunkKeys !== undefined ? { batchChunkKeys: env.batchChunkKeys } : {}),
              ...((opts.maxTokenLifetime ?? env.maxTokenLifetimeSeconds) !== undefined
                ? { maxTokenLifetimeSeconds: opts.maxTokenLifetime ?? env.maxTokenLifetimeSeconds }
                : {}),
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

  program
    .command("bootstrap")
    .description("create an integrator and print its client credentials (the secret is shown only now)")
    .option("--data <dir>", "data directory; env LATCHKEY_DATA")
    .option("--name <name>", "integrator name", "Integrator")
    .option("--json", "print {integratorId, clientId, clientSecret} as JSON")
    .action((opts: { data?: string; name: string; json?: boolean }) => {
      action = async () => {
        const env = fromEnv(io.env);
        const store = await openStore({ dataDir: opts.data ?? env.data ?? "./data", ...env.database });
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
