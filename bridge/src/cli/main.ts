import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { deriveLockPassword, isValidLockId } from "@latchkey/protocol";
import { UsageError } from "@latchkey/runtime";
import { Command, CommanderError, Option } from "commander";
import { CONFIG_PATH_ENV, ENV_OPTIONS } from "../config/env.js";
import { ConfigError } from "../config/errors.js";
import { loadBridgeConfig } from "../config/load.js";
import { starterConfig } from "../config/starter.js";
import { BRIDGE_VERSION } from "../version.js";

/**
 * `latchkey-bridge` — run the daemon, write a starter config, print lock credentials.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error (the message names the flag or key).
 */

const envHelp = () =>
  `\nEnvironment overrides (each option of the config file):\n${[...ENV_OPTIONS.keys()].map((k) => `  ${k}`).join("\n")}\n  ${CONFIG_PATH_ENV} (path of the config file when --config is absent)\n`;

function configPath(option: string | undefined): string {
  const path = option ?? process.env[CONFIG_PATH_ENV];
  if (!path) throw new UsageError(`--config <file> is required (or set ${CONFIG_PATH_ENV})`);
  return path;
}

/** `check` found something the bridge could not work with: exit 1, naming it. */
class CheckFailedError extends Error {
  constructor(what: string) {
    super(`check failed: ${what}`);
  }
}

async function run(path: string): Promise<void> {
  const config = loadBridgeConfig(path);
  // Loaded only to run: init, check and lock-credentials stay quick without the broker and database modules.
  const { startBridge } = await import("../controller.js");
  // Handlers first: a stop requested while the bridge is still starting (systemd, a supervisor) must be a graceful
  // one once it has started, not Node's default of dying on the spot.
  let bridge: Awaited<ReturnType<typeof startBridge>> | null = null;
  let pending: string | null = null;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (!bridge) {
      pending ??= signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    const running = bridge;
    running.logger.info({ signal }, "signal received");
    running.stop().then(
      () => process.exit(0),
      (e: Error) => {
        running.logger.error({ err: e.message }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  const started = await startBridge(config);
  bridge = started;
  if (pending !== null) {
    shutdown(pending);
    return;
  }
  started.ready.then(() =>
    started.logger.info({ mqttUrl: started.mqttUrl, metricsUrl: started.metricsUrl }, "bridge ready"),
  );
}

export function buildProgram(out: (text: string) => void = (t) => process.stdout.write(t)): Command {
  const program = new Command("latchkey-bridge")
    .description(
      "latchkey bridge: carries the cloud's signed documents to the locks of a site (MQTT / BLE) and their sealed reports back",
    )
    .version(BRIDGE_VERSION)
    .option("-c, --config <file>", "YAML settings file (see `latchkey-bridge init`)")
    .addHelpText("after", envHelp)
    .action(async (options: { config?: string }) => {
      await run(configPath(options.config));
    });

  program
    .command("init")
    .description("write a commented starter settings file with a fresh site secret")
    .option("-o, --out <file>", "where to write it", "bridge.yaml")
    .option("--force", "overwrite an existing file")
    .option("--cloud-url <url>", "the cloud's base URL")
    .option("--bridge-id <id>", "bridgeId from POST /integrators/v1/lock-holders/{lhId}/bridges")
    .addOption(new Option("--bridge-secret <secret>", "the secret answered with the bridgeId"))
    .action(
      (options: { out: string; force?: boolean; cloudUrl?: string; bridgeId?: string; bridgeSecret?: string }) => {
        const file = resolve(options.out);
        if (existsSync(file) && !options.force)
          throw new UsageError(`--out: ${file} exists (use --force to overwrite)`);
        writeFileSync(
          file,
          starterConfig({ cloudUrl: options.cloudUrl, bridgeId: options.bridgeId, bridgeSecret: options.bridgeSecret }),
          { mode: 0o600 },
        );
        out(`wrote ${file}\n`);
      },
    );

  program
    .command("lock-credentials")
    .description("print each lock's MQTT username and password (derived from mqtt.siteSecret)")
    .argument("<lockId...>", "lock ids")
    .option("-c, --config <file>", "YAML settings file")
    .option("--json", "print JSON")
    .action((lockIds: string[], options: { config?: string; json?: boolean }) => {
      for (const id of lockIds)
        if (!isValidLockId(id)) throw new UsageError(`<lockId>: "${id}" is not a valid lock id`);
      const config = loadBridgeConfig(configPath(options.config ?? program.opts<{ config?: string }>().config));
      const rows = lockIds.map((id) => ({
        lockId: id,
        username: id,
        password: deriveLockPassword(config.mqtt.siteSecret, id),
      }));
      if (options.json) out(`${JSON.stringify(rows, null, 2)}\n`);
      else for (const r of rows) out(`${r.lockId}\tusername=${r.username}\tpassword=${r.password}\n`);
    });

  program
    .command("check")
    .description(
      "validate the settings and environment overrides, then try the cloud (login, change feed), the broker and the " +
        "metrics port; exit 1 naming what failed",
    )
    .option("-c, --config <file>", "YAML settings file")
    .option("--offline", "only validate the settings; try nothing")
    .action(async (options: { config?: string; offline?: boolean }) => {
      const config = loadBridgeConfig(configPath(options.config ?? program.opts<{ config?: string }>().config));
      out(`${config.cloud.bridgeId}: configuration ok (broker ${config.mqtt.broker}, data ${config.dataDir})\n`);
      if (options.offline) return;
      const { checkEnvironment } = await import("./check.js");
      const results = await checkEnvironment(config);
      const width = Math.max(...results.map((r) => r.address.length));
      for (const r of results)
        out(`${r.result.padEnd(6)} ${r.what.padEnd(7)} ${r.address.padEnd(width)}  ${r.detail}\n`);
      const failed = results.filter((r) => r.result === "failed");
      if (failed.length > 0) throw new CheckFailedError(failed.map((r) => `${r.what} (${r.address})`).join(", "));
    });

  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof ConfigError || e instanceof UsageError) {
      process.stderr.write(`latchkey-bridge: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`latchkey-bridge: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
