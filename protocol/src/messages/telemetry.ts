import { encodeCbor } from "../cbor/encode.js";
import { ProtocolError } from "../errors.js";
import { MAX_MESSAGE_BYTES } from "./event.js";
import { Fields, LOCK_ID_PATTERN } from "./fields.js";

export const BATTERY_STATES = ["ok", "low", "critical"] as const;
export type BatteryState = (typeof BATTERY_STATES)[number];

/**
 * Battery telemetry (docs/design.md section 3), plus the lock's reported state: `v` is the sync version it runs, so the
 * bridge can compare desired and reported; `dropped` the events its ring buffer has lost since it was made.
 */
export interface Telemetry {
  lock: string;
  ts: number;
  level: number;
  mv: number;
  state: BatteryState;
  v?: number;
  dropped?: number;
}

/** Documented thresholds: `low` at or below 20 %, `critical` at or below 5 %. */
export const BATTERY_LOW_PERCENT = 20;
export const BATTERY_CRITICAL_PERCENT = 5;

export function batteryStateFor(level: number): BatteryState {
  if (level <= BATTERY_CRITICAL_PERCENT) return "critical";
  if (level <= BATTERY_LOW_PERCENT) return "low";
  return "ok";
}

export function encodeTelemetry(t: Telemetry): Uint8Array {
  return encodeCbor({ lock: t.lock, ts: t.ts, level: t.level, mv: t.mv, state: t.state, v: t.v, dropped: t.dropped });
}

export function decodeTelemetry(bytes: Uint8Array): Telemetry {
  if (bytes.length > MAX_MESSAGE_BYTES)
    throw new ProtocolError("too_large", `telemetry is ${bytes.length} bytes, over ${MAX_MESSAGE_BYTES}`);
  const f = Fields.decode(bytes, "telemetry");
  const t: Telemetry = {
    lock: f.text("lock", 64, LOCK_ID_PATTERN),
    ts: f.int("ts"),
    level: f.int("level", 0, 100),
    mv: f.int("mv", 0, 100_000),
    state: f.oneOf("state", BATTERY_STATES),
  };
  const v = f.optional("v", (n) => f.int(n));
  const dropped = f.optional("dropped", (n) => f.int(n));
  if (v !== undefined) t.v = v;
  if (dropped !== undefined) t.dropped = dropped;
  return t;
}
