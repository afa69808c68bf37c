import { isIP } from "node:net";
import { resolve } from "node:path";
import { addCliOptions, type CliOptions, readCliOptions, UsageError } from "@latchkey/runtime";
import { Type } from "@sinclair/typebox";
import { Command, CommanderError } from "commander";
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

const Port = Type.Integer({ minimum: 0, maximum: 65_535 });

/** The flags, each with its schema (runtime readCliOptions). `env` in a URL or password flag is read further down. */
const STACK_OPTIONS = {
  data: {
    flags: "--data <dir>",
    description: "data directory (cloud database, bridge outbox, lock flash, credentials)",
    schema: Type.String(),
    default: "./data",
  },
  port: {
    flags: "--port <n>",
    description: `cloud API port (default ${DEFAULT_PORTS.apiPort}; 0 = any free port)`,
    schema: Port,
  },
  mqttPort: {
    flags: "--mqtt-port <n>",
    description: `embedded MQTT broker port (default ${DEFAULT_PORTS.mqttPort})`,
    schema: Port,
  },
  metricsPort: {
    flags: "--metrics-port <n>",
    description: `bridge /metrics and /healthz port (default ${DEFAULT_PORTS.metricsPort})`,
    schema: Port,
  },
  locks: {
    flags: "--locks <n>",
    description: "number of simulated locks (1-100)",
    schema: Type.Integer({ minimum: 1, maximum: 100 }),
    default: 3,
  },
  demo: {
    flags: "--demo",
    description: "play the demo scenario, print PASS or FAIL, then stop (exit 1 on FAIL)",
    schema: Type.Boolean(),
  },
  keepRunning: {
    flags: "--keep-running",
    description: "with --demo: keep the stack running after the scenario",
    schema: Type.Boolean(),
  },
  summaryJson: {
    flags: "--summary-json <file>",
    description: "write the machine-readable summary (docs/design.md section 5) once all is ready",
    schema: Type.String(),
  },
  databaseUrl: {
    flags: "--database-url <url>",
    description:
      "run the cloud on PostgreSQL (postgres://…); `env` takes $DATABASE_URL. Default: SQLite in the data directory",
    schema: Type.String({ secret: true }),
  },
  mqttUrl: {
    flags: "--mqtt-url <url>",
    description:
      "run the bridge and locks on this external broker (mqtt://…); `env` takes $MQTT_URL. Default: embedded broker",
    schema: Type.String({ secret: true }),
  },
  mqttHost: {
    flags: "--mqtt-host <address>",
    description:
      "embedded MQTT broker listen address (default 127.0.0.1; 0.0.0.0 lets a Home Assistant on your network connect)",
    schema: Type.String(),
  },
  haPassword: {
    flags: "--ha-password <password>",
    description:
      `a login "${HA_USERNAME}" on the embedded broker for Home Assistant's MQTT integration ` +
      "(at least 12 characters; `env` reads LATCHKEY_HA_PASSWORD, so it stays out of the process list)",
    schema: Type.String({ secret: true }),
  },
  ble: {
    flags: "--ble <transport>",
    description:
      "virtual: the virtual BLE radio; hci-emulated: the first lock on bleno and the phone on noble, their own " +
      "stacks over emulated HCI controllers",
    schema: Type.Union(BLE_TRANSPORTS.map((t) => Type.Literal(t))),
    default: "virtual",
  },
  verbose: {
    flags: "--verbose",
    description: "print every log line of the cloud and the bridge",
    schema: Type.Boolean(),
  },
  console: { flags: "--no-console", description: "no interactive commands on standard input", schema: Type.Boolean() },
} satisfies CliOptions;

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
  const program = new Command("latchkey-stack").description(
    "Run the whole latchkey stack on this machine: the cloud, a bridge with its embedded MQTT broker, simulated " +
      "locks and a phone. State is kept in the data directory, so the next start reuses it.",
  );
  return addCliOptions(program, STACK_OPTIONS).version(PACKAGE_VERSION).exitOverride();
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
  const o = readCliOptions(STACK_OPTIONS, program.opts(), {});
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
    console: o.console !== false,
    mqttHost: o.mqttHost ?? "127.0.0.1",
    ble: o.ble,
    homeAssistant: haPassword === undefined ? undefined : { username: HA_USERNAME, password: haPassword },
  };
}
