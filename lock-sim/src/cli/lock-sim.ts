import { readFileSync } from "node:fs";
import { isValidLockId } from "@latchkey/protocol";
import {
  addCliOptions,
  type CliOptions,
  createLogger,
  LOG_LEVELS,
  type Logger,
  readCliOptions,
  UsageError,
} from "@latchkey/runtime";
import { Type } from "@sinclair/typebox";
import { Command, CommanderError } from "commander";
import { FlashError } from "../flash/flash-file.js";
import { type Fleet, type FleetOptions, FleetOptionsError, fleetLockIds, startFleet } from "../fleet/fleet.js";
import { factoryResetLock, setupCodes } from "../lock/factory.js";
import { PACKAGE_VERSION } from "./version.js";

/**
 * latchkey-lock-sim: N simulated locks in one process (docs/design.md section 5).
 *   latchkey-lock-sim --count N --mqtt URL [--site-secret S | --password-file F] [--prefix sim-lock-] [--data DIR]
 *                     [--topic-prefix latchkey] [--telemetry-interval 60] [--connect-rate 100]
 * Prints the lock ids (one a line) on standard output, logs (pino JSON) on standard error, stops cleanly on SIGINT
 * or SIGTERM (every lock publishes `offline`). Exit codes: 0 stopped, 1 failed while running, 2 usage error.
 * The locks trust nothing until their lock holder's signed state reaches them (docs/trust.md): `--trust` was removed.
 *
 * The factory's commands, on locks that are not running (docs/trust.md "Lock"):
 *   latchkey-lock-sim setup-codes --count N [--prefix sim-lock-] [--data DIR] [--json]
 *   latchkey-lock-sim factory-reset --lock ID [--data DIR] [--json]
 * print `<lockId> <setupCode>` a line (or JSON). Setup codes hold the claim secret: they go to standard output only.
 */
/** --help and --version end the run with 0; any other word from commander is a usage mistake (2). */
function commanderExitCode(e: CommanderError): 0 | 2 {
  return e.code === "commander.helpDisplayed" || e.code === "commander.help" || e.code === "commander.version" ? 0 : 2;
}

/** A required flag, checked after commander has named any unknown option (see program()). */
function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new UsageError(`${flag} is required (see --help)`);
  return value;
}

interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Where pino writes (default standard error). */
  log?: NodeJS.WritableStream;
}

const COUNT = {
  flags: "--count <n>",
  description: "number of locks (required)",
  schema: Type.Integer({ minimum: 1, maximum: 100_000 }),
};
const PREFIX = {
  flags: "--prefix <prefix>",
  description: "lock id prefix",
  schema: Type.String(),
  default: "sim-lock-",
};
const DATA = {
  flags: "--data <dir>",
  description: "flash directory (one SQLite file for the fleet)",
  schema: Type.String(),
  default: "data/lock-sim",
};

// --count and --mqtt are required but checked in the run (required()): commander reports a missing required option
// before an unknown one, and `--bogus` must be named as such (issue 15 item 10).
const FLEET_OPTIONS = {
  count: COUNT,
  mqtt: {
    flags: "--mqtt <url>",
    description: "broker URL, e.g. mqtt://127.0.0.1:1883 (required)",
    schema: Type.String(),
  },
  siteSecret: {
    flags: "--site-secret <secret>",
    description: "derive each lock's broker password",
    env: "LATCHKEY_SITE_SECRET",
    schema: Type.String({ secret: true }),
  },
  passwordFile: {
    flags: "--password-file <file>",
    description: "per-lock passwords: JSON {lockId: password} or lines `<lockId> <password>`",
    schema: Type.String(),
  },
  prefix: PREFIX,
  data: DATA,
  topicPrefix: {
    flags: "--topic-prefix <prefix>",
    description: "MQTT topic prefix",
    schema: Type.String(),
    default: "latchkey",
  },
  telemetryInterval: {
    flags: "--telemetry-interval <seconds>",
    description: "seconds between battery reports per lock (0: off)",
    schema: Type.Number({ minimum: 0 }),
    default: 60,
  },
  connectRate: {
    flags: "--connect-rate <n>",
    description: "locks started per second",
    schema: Type.Integer({ minimum: 1, maximum: 100_000 }),
    default: 100,
  },
  logLevel: {
    flags: "--log-level <level>",
    description: "pino level",
    schema: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l))),
    default: "info",
  },
} satisfies CliOptions;

const JSON_OPTION = {
  flags: "--json",
  description: "print a JSON array of {lockId, setupCode}",
  schema: Type.Boolean(),
};
const SETUP_CODES_OPTIONS = { data: DATA, json: JSON_OPTION, count: COUNT, prefix: PREFIX } satisfies CliOptions;
const FACTORY_RESET_OPTIONS = {
  data: DATA,
  json: JSON_OPTION,
  lock: { flags: "--lock <id>", description: "the lock id (required)", schema: Type.String() },
} satisfies CliOptions;

type Flags = Record<string, unknown>;

function program(io: Io, run: (flags: Flags) => Promise<void>): Command {
  const command = new Command("latchkey-lock-sim")
    .description("simulated latchkey locks: N locks in one process on one MQTT broker")
    .version(PACKAGE_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  return addCliOptions(command, FLEET_OPTIONS).action(async (flags: Flags) => run(flags));
}

function readPasswords(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(
      `--password-file: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const map = new Map<string, string>();
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let o: unknown;
    try {
      o = JSON.parse(trimmed);
    } catch (e) {
      throw new UsageError(`--password-file: ${path} is not valid JSON: ${(e as Error).message}`);
    }
    for (const [id, pw] of Object.entries(o as Record<string, unknown>)) {
      if (!isValidLockId(id) || typeof pw !== "string" || pw.length === 0) {
        throw new UsageError(`--password-file: entry "${id}" must map a lock id to a non-empty password`);
      }
      map.set(id, pw);
    }
    return map;
  }
  trimmed.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim();
    if (l === "" || l.startsWith("#")) return;
    const m = /^(\S+)(?:\s+|=)(\S+)$/.exec(l);
    if (m === null || !isValidLockId(m[1]))
      throw new UsageError(`--password-file: line ${i + 1} is not "<lockId> <password>"`);
    map.set(m[1]!, m[2]!);
  });
  return map;
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--mqtt: "${url}" is not a URL (e.g. mqtt://127.0.0.1:1883)`);
  }
  if (!["mqtt:", "mqtts:", "tcp:", "ssl:", "tls:", "ws:", "wss:"].includes(parsed.protocol)) {
    throw new UsageError(`--mqtt: protocol ${parsed.protocol} is not one of mqtt:, mqtts:, ws:, wss:`);
  }
}

function printLabels(io: Io, labels: { lockId: string; setupCode: string }[], json: boolean | undefined): void {
  if (json === true) io.out(JSON.stringify(labels.map((l) => ({ lockId: l.lockId, setupCode: l.setupCode }))));
  else for (const l of labels) io.out(`${l.lockId} ${l.setupCode}`);
}

function factoryProgram(io: Io, name: string, run: (flags: Flags) => void): Command {
  const command = new Command(`latchkey-lock-sim ${name}`)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .description(
      name === "setup-codes"
        ? "print each lock's id and setup code, making the locks never booted on this flash"
        : "factory reset one lock that is not running: new keys, nothing trusted, the claim secret kept",
    );
  return addCliOptions(command, name === "setup-codes" ? SETUP_CODES_OPTIONS : FACTORY_RESET_OPTIONS).action(
    (flags: Flags) => run(flags),
  );
}

/** `setup-codes` and `factory-reset`: answers the exit code and never throws. */
async function runFactoryCli(name: string, argv: string[], io: Io): Promise<number> {
  if (argv.length === 0) {
    factoryProgram(io, name, () => {}).outputHelp({ error: true });
    return 2;
  }
  const run = (flags: Flags) => {
    if (name === "setup-codes") {
      const p = readCliOptions(SETUP_CODES_OPTIONS, flags, {});
      const ids = fleetLockIds(required(p.count, "--count"), p.prefix);
      for (const id of [ids[0], ids.at(-1)]) {
        if (!isValidLockId(id)) throw new UsageError(`--prefix "${p.prefix}" makes "${id}", not a valid lock id`);
      }
      printLabels(io, setupCodes(ids, { dataDir: p.data }), p.json);
    } else {
      const p = readCliOptions(FACTORY_RESET_OPTIONS, flags, {});
      required(p.lock, "--lock");
      if (!isValidLockId(p.lock)) throw new UsageError(`--lock "${p.lock}" is not a valid lock id`);
      printLabels(io, [factoryResetLock(p.lock, { dataDir: p.data })], p.json);
    }
  };
  try {
    await factoryProgram(io, name, run).parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return commanderExitCode(e);
    if (e instanceof UsageError) {
      io.err(`latchkey-lock-sim ${name}: ${e.message}`);
      return 2;
    }
    io.err(
      `latchkey-lock-sim ${name}: ${e instanceof FlashError ? "--data: " : ""}${(e as Error)?.message ?? String(e)}`,
    );
    return 1;
  }
}

const FACTORY_COMMANDS = new Set(["setup-codes", "factory-reset"]);

/**
 * Flags of the unsigned `sync` era (docs/design.md section 7 "Removed"): named with what replaced them, rather than
 * as any unknown option.
 */
const REMOVED_FLAGS: Record<string, string> = {
  "--trust":
    "--trust was removed: factory issuer keys are gone; locks trust only the issuers their lock holder's signed " +
    "state names, carried by the bridge or a phone (docs/trust.md)",
};

function removedFlag(argv: readonly string[]): string | undefined {
  for (const arg of argv) {
    const why = REMOVED_FLAGS[arg.split("=")[0]!];
    if (why !== undefined) return why;
  }
  return undefined;
}

/** Runs the CLI until a signal stops it; answers the exit code and never throws. */
export async function runLockSimCli(
  argv: string[],
  io: Io = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) },
  signals: NodeJS.EventEmitter = process,
): Promise<number> {
  if (argv[0] !== undefined && FACTORY_COMMANDS.has(argv[0])) return runFactoryCli(argv[0], argv.slice(1), io);
  if (argv.length === 0) {
    program(io, async () => {}).outputHelp({ error: true });
    return 2;
  }
  const removed = removedFlag(argv);
  if (removed !== undefined) {
    io.err(`latchkey-lock-sim: ${removed}`);
    return 2;
  }
  let fleet: Fleet | null = null;
  let logger: Logger | null = null;
  const run = async (flags: Flags) => {
    const p = readCliOptions(FLEET_OPTIONS, flags, process.env);
    const count = required(p.count, "--count");
    const mqttUrl = required(p.mqtt, "--mqtt");
    checkUrl(mqttUrl);
    const siteSecret = p.siteSecret;
    if (siteSecret !== undefined && p.passwordFile !== undefined) {
      throw new UsageError("use either --site-secret (or LATCHKEY_SITE_SECRET) or --password-file, not both");
    }
    if (siteSecret !== undefined && Buffer.byteLength(siteSecret) < 16) {
      throw new UsageError("--site-secret must be at least 16 bytes");
    }
    const ids = fleetLockIds(count, p.prefix);
    for (const id of [ids[0], ids.at(-1)]) {
      if (!isValidLockId(id)) throw new UsageError(`--prefix "${p.prefix}" makes "${id}", not a valid lock id`);
    }
    logger = createLogger({ service: "latchkey-lock-sim", level: p.logLevel, destination: io.log ?? process.stderr });
    const options: FleetOptions = {
      count,
      mqttUrl,
      prefix: p.prefix,
      dataDir: p.data,
      topicPrefix: p.topicPrefix,
      telemetryIntervalSeconds: p.telemetryInterval,
      connectRatePerSecond: p.connectRate,
      logger,
    };
    if (siteSecret !== undefined) options.siteSecret = siteSecret;
    if (p.passwordFile !== undefined) options.passwords = readPasswords(p.passwordFile);
    if (siteSecret === undefined && p.passwordFile === undefined) {
      logger.warn("no --site-secret or --password-file: locks log in with their id and no password");
    }

    let wake: (() => void) | null = null;
    const stopped = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const onSignal = (signal: string) => {
      logger?.info({ signal }, "stopping");
      signals.removeListener("SIGINT", onSignal);
      signals.removeListener("SIGTERM", onSignal);
      if (signals === process) {
        // a second signal while stopping: leave at once
        signals.once("SIGINT", () => process.exit(130));
        signals.once("SIGTERM", () => process.exit(143));
      }
      wake?.();
    };
    signals.on("SIGINT", onSignal);
    signals.on("SIGTERM", onSignal);
    try {
      for (const id of ids) io.out(id);
      fleet = await startFleet(options);
      const current = fleet;
      current
        .whenOnline(3_600_000)
        .then(() => logger?.info({ locks: current.ids.length }, "all locks online"))
        .catch(() => {});
      await stopped;
      await current.stop();
      logger.info("stopped");
    } finally {
      signals.removeListener("SIGINT", onSignal);
      signals.removeListener("SIGTERM", onSignal);
    }
  };

  try {
    await program(io, run).parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return commanderExitCode(e);
    await (fleet as Fleet | null)?.stop().catch(() => {});
    if (e instanceof UsageError || e instanceof FleetOptionsError) {
      io.err(`latchkey-lock-sim: ${e.message}`);
      return 2;
    }
    if (e instanceof FlashError) {
      io.err(`latchkey-lock-sim: --data: ${e.message}`);
      return 1;
    }
    io.err(`latchkey-lock-sim: ${(e as Error)?.message ?? String(e)}`);
    return 1;
  }
}
