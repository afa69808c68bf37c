import { type Clock, type Ed25519Backend, isValidLockId } from "@latchkey/protocol";
import type { Logger } from "pino";
import type { VirtualRadio } from "../ble/virtual-radio.js";
import type { RandomSource } from "../random.js";
import type { BatteryOptions } from "./battery.js";

/**
 * The lock's oscillator: it counts local milliseconds off the base clock at `1 + ppm/10⁶` (+100 ppm runs 8.64 s a day
 * fast). The trust engine's clock counts on it (docs/trust.md "Time"); only signed documents set the time.
 */
export interface DriftOptions {
  /** Rate error in parts per million. Default 0. */
  ppm?: number;
}

export interface LockOptions {
  lockId: string;
  /** The lock's persistent "flash": `<dataDir>/flash.db`. Locks may share a directory (fleet mode does). */
  dataDir: string;
  /** When set, the lock connects (username = lockId, client id = lockId). */
  mqttUrl?: string;
  mqttPassword?: string;
  /** Or derive the password with protocol `deriveLockPassword(siteSecret, lockId)`. */
  siteSecret?: string;
  /** Default "latchkey". */
  topicPrefix?: string;
  /** The base clock the lock's oscillator counts on (plus drift). Default: the system clock. */
  clock?: Clock;
  /** Nonces, event ids, telemetry jitter, first-boot keys. Default: crypto random; `seededRandom(seed)` in tests. */
  random?: RandomSource;
  /** When set, the lock also advertises its GATT service on this virtual radio. */
  radio?: VirtualRadio;
  /** Serve the GATT service on this host's Bluetooth adapter through @abandonware/bleno. */
  hardwareBle?: boolean;
  battery?: BatteryOptions;
  /** The oscillator's drift: `{ppm}`. Default: exact. */
  drift?: DriftOptions;
  /** Event ring buffer capacity in flash (default 256). When full the oldest event not in flight is dropped. */
  ringCapacity?: number;
  /**
   * An event published (PUBACKed, or handed to a BLE gateway) but still above the signed state's `ack` this many
   * seconds later is re-sealed under a new counter and sent again (default 600, by the lock's local clock).
   */
  resendSeconds?: number;
  /** Periodic telemetry (default 60 s; 0 turns periodic reports off, change and connect reports stay). */
  telemetryIntervalSeconds?: number;
  /** ± fraction of the interval each report moves by, and a random first report (default 0; fleets use 0.1). */
  telemetryJitter?: number;
  /** The lock re-locks by itself this long after an unlock (default 5 s). */
  relockSeconds?: number;
  /** Token validity leeway (default protocol's 60 s). */
  leewaySeconds?: number;
  /** Ed25519 backend for verification (default node:crypto). */
  backend?: Ed25519Backend;
  /** How often the lock looks at its clock (re-lock, idle drain, telemetry); default 1000 ms; 0 = only `tick()`. */
  tickIntervalMs?: number;
  /** How many events `lock.events` keeps in memory (default 10,000; the flash ring buffer is separate). */
  eventHistory?: number;
  /** Wait for the first MQTT connection before `startLock` resolves (default true). */
  awaitConnection?: boolean;
  /**
   * Reconnecting (docs/mqtt.md "Reconnecting"): the first wait after a drop (`reconnectPeriodMs`, default 1000), ±50 %,
   * doubled by each failed attempt up to `reconnectMaxMs` (default 30 s).
   */
  mqtt?: { reconnectPeriodMs?: number; reconnectMaxMs?: number; keepaliveSeconds?: number; connectTimeoutMs?: number };
  /** pino logger (default: silent). Never given secrets. */
  logger?: Logger;
}

/**
 * Options of the unsigned `sync` era (docs/design.md section 7 "Removed"): refused by name, so a caller learns what
 * replaced them instead of a silently ignored field.
 */
const REMOVED_OPTIONS: Record<string, string> = {
  trust:
    "was removed: factory issuer keys are gone, a lock trusts only the issuers its lock holder's signed state names " +
    "(docs/trust.md)",
  clockUnset: "was removed: every lock starts with no time and takes it only from a signed time answer (docs/trust.md)",
};

export class LockOptionsError extends TypeError {
  constructor(option: string, problem: string) {
    super(`lock option ${option}: ${problem}`);
    this.name = "LockOptionsError";
  }
}

function checkNumber(name: string, value: number | undefined, min: number, max: number, integer = false): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new LockOptionsError(name, `must be a number from ${min} to ${max}, got ${String(value)}`);
  }
  if (integer && !Number.isInteger(value)) throw new LockOptionsError(name, `must be a whole number, got ${value}`);
}

/** Refuses options that would make a lock misbehave, naming the option at fault. */
export function validateLockOptions(o: LockOptions): void {
  if (o === null || typeof o !== "object") throw new LockOptionsError("options", "must be an object");
  for (const [name, why] of Object.entries(REMOVED_OPTIONS)) {
    if (name in o) throw new LockOptionsError(name, why);
  }
  if (o.drift !== undefined && "offsetSeconds" in o.drift) {
    throw new LockOptionsError("drift.offsetSeconds", "was removed: the lock's time comes only from signed documents");
  }
  if (!isValidLockId(o.lockId)) {
    throw new LockOptionsError(
      "lockId",
      `"${String(o.lockId)}" is not a valid lock id (${"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"})`,
    );
  }
  if (typeof o.dataDir !== "string" || o.dataDir.length === 0) throw new LockOptionsError("dataDir", "is required");
  if (o.mqttUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(o.mqttUrl);
    } catch {
      throw new LockOptionsError("mqttUrl", `"${o.mqttUrl}" is not a URL`);
    }
    if (!["mqtt:", "mqtts:", "tcp:", "ssl:", "tls:", "ws:", "wss:"].includes(url.protocol)) {
      throw new LockOptionsError("mqttUrl", `protocol ${url.protocol} is not one of mqtt:, mqtts:, ws:, wss:`);
    }
  }
  if (o.mqttPassword !== undefined && o.siteSecret !== undefined) {
    throw new LockOptionsError("mqttPassword", "give either mqttPassword or siteSecret, not both");
  }
  if (o.siteSecret !== undefined && (typeof o.siteSecret !== "string" || Buffer.byteLength(o.siteSecret) < 16)) {
    throw new LockOptionsError("siteSecret", "must be at least 16 bytes");
  }
  checkNumber("ringCapacity", o.ringCapacity, 1, 1_000_000, true);
  checkNumber("resendSeconds", o.resendSeconds, 1, 86_400 * 30);
  checkNumber("telemetryIntervalSeconds", o.telemetryIntervalSeconds, 0, 86_400 * 7);
  checkNumber("telemetryJitter", o.telemetryJitter, 0, 0.5);
  checkNumber("relockSeconds", o.relockSeconds, 0, 3600);
  checkNumber("leewaySeconds", o.leewaySeconds, 0, 3600, true);
  checkNumber("tickIntervalMs", o.tickIntervalMs, 0, 3_600_000, true);
  checkNumber("eventHistory", o.eventHistory, 0, 10_000_000, true);
  checkNumber("drift.ppm", o.drift?.ppm, -100_000, 100_000);
  checkNumber("battery.level", o.battery?.level, 0, 100);
  checkNumber("battery.perActuation", o.battery?.perActuation, 0, 100);
  checkNumber("battery.perIdleDay", o.battery?.perIdleDay, 0, 100);
  checkNumber("battery.fullMv", o.battery?.fullMv, 1, 100_000, true);
  checkNumber("battery.emptyMv", o.battery?.emptyMv, 0, 100_000, true);
  checkNumber("mqtt.reconnectPeriodMs", o.mqtt?.reconnectPeriodMs, 0, 3_600_000, true);
  checkNumber("mqtt.reconnectMaxMs", o.mqtt?.reconnectMaxMs, 1, 3_600_000, true);
  if (o.clock !== undefined && typeof o.clock?.now !== "function")
    throw new LockOptionsError("clock", "must have now()");
  if (o.random !== undefined && typeof o.random !== "function")
    throw new LockOptionsError("random", "must be a function");
}
