import { deriveLockPassword, isValidLockId } from "@latchkey/protocol";
import type { Logger } from "pino";
import type { VirtualRadio } from "../ble/virtual-radio.js";
import type { LockOptions } from "../lock/options.js";
import type { SimLock } from "../lock/sim-lock.js";
import { startLock } from "../lock/start-lock.js";
import type { RandomSource } from "../random.js";

export interface FleetOptions {
  count: number;
  mqttUrl: string;
  /** Each lock derives its broker password from this (docs/mqtt.md)… */
  siteSecret?: string;
  /** …or its password is looked up here by lock id. Neither: the locks log in without a password. */
  passwords?: ReadonlyMap<string, string>;
  /** Lock ids are `<prefix><number>`, numbers zero-padded to at least 3 digits (default "sim-lock-"). */
  prefix?: string;
  /** First number (default 1). */
  startIndex?: number;
  /** All locks keep their flash in `<dataDir>/flash.db`, sharing one SQLite connection. */
  dataDir: string;
  topicPrefix?: string;
  /** Default 60 s, each report moved by ±`telemetryJitter` (default 0.1) of it, the first at a random point. */
  telemetryIntervalSeconds?: number;
  telemetryJitter?: number;
  /** Staggered boot: this many locks start per second (default 100), as a site powering up does. */
  connectRatePerSecond?: number;
  radio?: VirtualRadio;
  /** Locks that also serve BLE through bleno, on this host's (or an emulated) adapter: bleno is one per process. */
  hardwareBle?: readonly string[];
  random?: RandomSource;
  logger?: Logger;
  /** Anything else every lock gets (battery, drift, ring capacity, resend interval, clock…). */
  lockOptions?: Partial<LockOptions>;
}

export interface Fleet {
  readonly ids: string[];
  readonly locks: SimLock[];
  /** How many locks are connected now. */
  readonly online: number;
  /** Resolves once every lock has connected (at least once); rejects when the fleet stops first. */
  whenOnline(timeoutMs?: number): Promise<void>;
  /** Stops every lock cleanly (each publishes `offline`). */
  stop(): Promise<void>;
}

export class FleetOptionsError extends TypeError {
  constructor(option: string, problem: string) {
    super(`fleet option ${option}: ${problem}`);
    this.name = "FleetOptionsError";
  }
}

export function fleetLockIds(count: number, prefix = "sim-lock-", startIndex = 1): string[] {
  const width = Math.max(3, String(startIndex + count - 1).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(startIndex + i).padStart(width, "0")}`);
}

/** Runs N simulated locks in this process against one broker (fleet mode of `latchkey-lock-sim`). */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { count } = options;
  if ("trust" in options) {
    throw new FleetOptionsError(
      "trust",
      "was removed: locks trust only the issuers their lock holder's signed state names (docs/trust.md)",
    );
  }
  if (!Number.isInteger(count) || count < 1 || count > 100_000) {
    throw new FleetOptionsError("count", `must be a whole number from 1 to 100000, got ${String(count)}`);
  }
  const rate = options.connectRatePerSecond ?? 100;
  if (!(rate > 0)) throw new FleetOptionsError("connectRatePerSecond", "must be above 0");
  const ids = fleetLockIds(count, options.prefix, options.startIndex ?? 1);
  for (const id of [ids[0]!, ids.at(-1)!]) {
    if (!isValidLockId(id)) throw new FleetOptionsError("prefix", `makes "${id}", which is not a valid lock id`);
  }
  const passwordFor = (id: string): string | undefined => {
    if (options.siteSecret !== undefined) return deriveLockPassword(options.siteSecret, id);
    if (options.passwords === undefined) return undefined;
    const p = options.passwords.get(id);
    if (p === undefined) throw new FleetOptionsError("passwords", `has no password for ${id}`);
    return p;
  };
  const passwords = ids.map(passwordFor);

  const locks: SimLock[] = [];
  const gapMs = 1000 / rate;
  const began = Date.now();
  try {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const lockOptions: LockOptions = {
        telemetryJitter: 0.1,
        ...options.lockOptions,
        lockId: id,
        dataDir: options.dataDir,
        mqttUrl: options.mqttUrl,
        awaitConnection: false,
        telemetryIntervalSeconds: options.telemetryIntervalSeconds ?? 60,
      };
      if (options.telemetryJitter !== undefined) lockOptions.telemetryJitter = options.telemetryJitter;
      const password = passwords[i];
      if (password !== undefined) lockOptions.mqttPassword = password;
      if (options.topicPrefix !== undefined) lockOptions.topicPrefix = options.topicPrefix;
      if (options.radio !== undefined) lockOptions.radio = options.radio;
      if (options.hardwareBle?.includes(id)) lockOptions.hardwareBle = true;
      if (options.random !== undefined) lockOptions.random = options.random;
      if (options.logger !== undefined) lockOptions.logger = options.logger;
      locks.push(await startLock(lockOptions));
      const due = began + (i + 1) * gapMs - Date.now();
      if (due > 0 && i + 1 < ids.length) await new Promise((r) => setTimeout(r, due));
    }
  } catch (e) {
    await Promise.all(locks.map((l) => l.stop()));
    throw e;
  }
  options.logger?.info({ locks: count }, "fleet started");

  let stopping: Promise<void> | null = null;
  // Ends every pending whenOnline at stop: its timer (up to an hour in the CLI) would otherwise keep the process alive
  // after "stopped" when a lock never connected (issue 15 item 10).
  const stop = new AbortController();
  return {
    ids,
    locks,
    get online() {
      return locks.filter((l) => l.connected).length;
    },
    async whenOnline(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (const lock of locks) {
        await lock.waitForConnected({ timeoutMs: Math.max(1, deadline - Date.now()), signal: stop.signal });
      }
    },
    stop() {
      stop.abort();
      stopping ??= Promise.all(locks.map((l) => l.stop())).then(() => undefined);
      return stopping;
    },
  };
}
