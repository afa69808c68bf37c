import { isIP } from "node:net";
import { resolve } from "node:path";
import { UsageError } from "@latchkey/runtime";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { PACKAGE_VERSION } from "../cli/version.js";
import { BLE_TRANSPORTS, type BleTransportName } from "./ble-transport.js";

/** What `npm start -- …` (latchkey-stack) was asked to do. */
export interface StackOptions {
  /** Everything that must survive a restart lives here (default ./data). */
  dataDir: string;
  apiPort: number;
  mqttPort: number;
  metricsPort: number;
  /** Whether the user gave the port (then it must be free) or it is the default (then a taken one is replaced). */
  explicit: { apiPort: boolean; mqttPort: boolean; metricsPort: boolean };
  /** Simulated locks; their ids are kept in the data directory. */
  locks: number;
  demo: boolean;
  /** After --demo: keep the stack running instead of exiting with the demo's verdict. */
  keepRunning: boolean;
  summaryJson: string | undefined;
  /** Opt in to PostgreSQL for the cloud (never taken from the environment by itself). */
  databaseUrl: string | undefined;
  /** Opt in to an external broker for the bridge and locks (never taken from the environment by itself). */
  mqttUrl: string | undefined;
  /** Every log line of the children, not only the readable summary of them. */
  verbose: boolean;
  /** Commands on standard input (`unlock <lockId>`, …); default on. */
  console: boolean;
  /** Embedded broker listen address (127.0.0.1 unless the user opens it to the network). */
  mqttHost: string;
  /** How the phone reaches the locks over BLE: the virtual radio, or noble and bleno over emulated HCI. */
  ble: BleTransportName;
  /** A broker login for Home Assistant's MQTT integration (issue 15 item 7), or none. */
  homeAssistant: { username: string; password: string } | undefined;
}

/** Home Assistant's login on the stack's broker; the bridge refuses names that look like lock ids. */
export const HA_USERNAME = "homeassistant@latchkey";

export const DEFAULT_PORTS = { apiPort: 8080, mqttPort: 1883, metricsPort: 9108 } as const;

const port = (flag: string) => (value: string) => {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65_535)
    throw new InvalidArgumentError(`${flag} must be a port number from 0 to 65535 (0 = any free port)`);
  return Number(value);
};

const lockCount = (value: string) => {
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 100)
    throw new InvalidArgumentError("--locks must be a whole number from 1 to 100");
  return Number(value);
};

/** `env` takes the value of the environment variable `name`; anything else is the value itself. */
function fromFlagOrEnv(flag: string, name: string, value: string | undefined, env: NodeJS.ProcessEnv, check: RegExp) {
  if (value === undefined) return undefined;
  const resolved = value === "env" ? env[name] : value;
  if (!resolved) throw new UsageError(`${flag} env: the environment variable ${name} is not set`);
  if (!check.test(resolved))
    throw new UsageError(`${flag}${value === "env" ? ` (from ${name})` : ""} must look like ${check.source}`);
  return resolved;
}

export function buildStackProgram(): Command {
  return new Command("latchkey-stack")
    .description(
      "Run the whole latchkey stack on this machine: the cloud, a bridge with its embedded MQTT broker, simulated " +
        "locks and a phone. State is kept in the data directory, so the next start reuses it.",
    )
    .option("--data <dir>", "data directory (cloud database, bridge outbox, lock flash, credentials)", "./data")
    .option("--port <n>", `cloud API port (default ${DEFAULT_PORTS.apiPort}; 0 = any free port)`, port("--port"))
    .option("--mqtt-port <n>", `embedded MQTT broker port (default ${DEFAULT_PORTS.mqttPort})`, port("--mqtt-port"))
    .option(
      "--metrics-port <n>",
      `bridge /metrics and /healthz port (default ${DEFAULT_PORTS.metricsPort})`,
      port("--metrics-port"),
    )
    .option("--locks <n>", "number of simulated locks (1-100)", lockCount, 3)
    .option("--demo", "play the demo scenario, print PASS or FAIL, then stop (exit 1 on FAIL)")
    .option("--keep-running", "with --demo: keep the stack running after the scenario")
    .option("--summary-json <file>", "write the machine-readable summary (docs/design.md section 5) once all is ready")
    .option(
      "--database-url <url>",
      "run the cloud on PostgreSQL (postgres://…); `env` takes $DATABASE_URL. Default: SQLite in the data directory",
    )
    .option(
      "--mqtt-url <url>",
      "run the bridge and locks on this external broker (mqtt://…); `env` takes $MQTT_URL. Default: embedded broker",
    )
    .option(
      "--mqtt-host <address>",
      "embedded MQTT broker listen address (default 127.0.0.1; 0.0.0.0 lets a Home Assistant on your network connect)",
    )
    .option(
      "--ha-password <password>",
      `a login "${HA_USERNAME}" on the embedded broker for Home Assistant's MQTT integration ` +
        "(at least 12 characters; `env` reads LATCHKEY_HA_PASSWORD, so it stays out of the process list)",
    )
    .option(
      "--ble <transport>",
      "virtual: the virtual BLE radio; hci-emulated: the first lock on bleno and the phone on noble, their own stacks over emulated HCI controllers",
      "virtual",
    )
    .option("--verbose", "print every log line of the cloud and the bridge")
    .option("--no-console", "no interactive commands on standard input")
    .version(PACKAGE_VERSION)
    .exitOverride();
}

/** Parses the command line; throws UsageError naming the flag at fault, CommanderError for --help. */
export function parseStackArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): StackOptions {
  const program = buildStackProgram().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  try {
    program.parse(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) throw e;
      throw new UsageError(e.message.replace(/^error: /, ""));
    }
    throw e;
  }
  const o = program.opts<{
    data: string;
    port?: number;
    mqttPort?: number;
    metricsPort?: number;
    locks: number;
    demo?: boolean;
    keepRunning?: boolean;
    summaryJson?: string;
    databaseUrl?: string;
    mqttUrl?: string;
    verbose?: boolean;
    console: boolean;
    mqttHost?: string;
    haPassword?: string;
    ble: string;
  }>();
  if (o.keepRunning && !o.demo) throw new UsageError("--keep-running only applies with --demo");
  if (o.data.trim() === "") throw new UsageError("--data must name a directory");
  const databaseUrl = fromFlagOrEnv("--database-url", "DATABASE_URL", o.databaseUrl, env, /^postgres(ql)?:\/\//);
  const mqttUrl = fromFlagOrEnv("--mqtt-url", "MQTT_URL", o.mqttUrl, env, /^(mqtts?|wss?|tcp):\/\//);
  // The password itself never appears in a message: only its length rule.
  const haPassword = fromFlagOrEnv("--ha-password", "LATCHKEY_HA_PASSWORD", o.haPassword, env, /^/);
  if (haPassword !== undefined && haPassword.length < 12)
    throw new UsageError("--ha-password must be at least 12 characters (the bridge's rule for broker logins)");
  for (const [flag, given] of [
    ["--mqtt-host", o.mqttHost],
    ["--ha-password", haPassword],
  ] as const)
    if (given !== undefined && mqttUrl !== undefined)
      throw new UsageError(`${flag} applies to the embedded broker; with --mqtt-url configure your own broker`);
  if (o.mqttHost !== undefined && isIP(o.mqttHost) === 0)
    throw new UsageError(
      `--mqtt-host must be an IP address to listen on (e.g. 127.0.0.1 or 0.0.0.0), not "${o.mqttHost}"`,
    );
  if (!(BLE_TRANSPORTS as readonly string[]).includes(o.ble))
    throw new UsageError(`--ble must be one of ${BLE_TRANSPORTS.join(", ")}, not "${o.ble}"`);
  return {
    dataDir: resolve(cwd, o.data),
    apiPort: o.port ?? DEFAULT_PORTS.apiPort,
    mqttPort: o.mqttPort ?? DEFAULT_PORTS.mqttPort,
    metricsPort: o.metricsPort ?? DEFAULT_PORTS.metricsPort,
    explicit: {
      apiPort: o.port !== undefined,
      mqttPort: o.mqttPort !== undefined,
      metricsPort: o.metricsPort !== undefined,
    },
    locks: o.locks,
    demo: o.demo === true,
    keepRunning: o.keepRunning === true,
    summaryJson: o.summaryJson === undefined ? undefined : resolve(cwd, o.summaryJson),
    databaseUrl,
    mqttUrl,
    verbose: o.verbose === true,
    console: o.console,
    mqttHost: o.mqttHost ?? "127.0.0.1",
    ble: o.ble as BleTransportName,
    homeAssistant: haPassword === undefined ? undefined : { username: HA_USERNAME, password: haPassword },
  };
}
