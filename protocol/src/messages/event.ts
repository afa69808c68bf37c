import { encodeCbor } from "../cbor/encode.js";
import { ProtocolError, type TokenErrorCode } from "../errors.js";
import { Fields, LOCK_ID_PATTERN } from "./fields.js";

/**
 * What happened at a lock. `denied` carries the verification `code`; `state_applied` the `v` of the signed lock state
 * it applied (docs/trust.md); `unlocked` and `locked` done for a remote command carry `cmd`, the command's binding.
 */
export const EVENT_TYPES = [
  "unlocked",
  "denied",
  "locked",
  "jammed",
  "battery_low",
  "clock_set",
  "state_applied",
] as const;
export type LockEventType = (typeof EVENT_TYPES)[number];

export const EVENT_ID_BYTES = 16;
export const MAX_MESSAGE_BYTES = 4096;

/**
 * A lock event (docs/design.md section 3). `seq` rises by one per lock and survives restarts, so a gap is visible;
 * `dropped` says how many events the lock's ring buffer lost immediately before this one, which explains a gap.
 */
export interface LockEvent {
  id: Uint8Array;
  lock: string;
  seq: number;
  /** Unix seconds by the lock's clock. */
  ts: number;
  type: LockEventType;
  /** The key (token cti) involved, when there is one. */
  key?: Uint8Array;
  /** Why: the verification failure code of a `denied`, or a fault reason. */
  code?: TokenErrorCode | string;
  dropped?: number;
  /** The signed state's `v` applied (`state_applied`). */
  v?: number;
  /**
   * sha256 of the nonce of the remote command this event is the result of (protocol `commandResultBinding`), so no
   * unrelated `unlocked` passes as a command's success (docs/trust.md "Remote commands").
   */
  cmd?: Uint8Array;
}

export function encodeEvent(event: LockEvent): Uint8Array {
  return encodeCbor({
    id: event.id,
    lock: event.lock,
    seq: event.seq,
    ts: event.ts,
    type: event.type,
    key: event.key,
    code: event.code,
    dropped: event.dropped,
    v: event.v,
    cmd: event.cmd,
  });
}

export function decodeEvent(bytes: Uint8Array): LockEvent {
  if (bytes.length > MAX_MESSAGE_BYTES)
    throw new ProtocolError("too_large", `event is ${bytes.length} bytes, over ${MAX_MESSAGE_BYTES}`);
  const f = Fields.decode(bytes, "event");
  const event: LockEvent = {
    id: f.bytes("id", EVENT_ID_BYTES),
    lock: f.text("lock", 64, LOCK_ID_PATTERN),
    seq: f.int("seq"),
    ts: f.int("ts"),
    type: f.oneOf("type", EVENT_TYPES),
  };
  // Read without a closure per optional field: every report the cloud ingests decodes one event.
  const key = f.has("key") ? f.bytes("key", 16) : undefined;
  const code = f.has("code") ? f.text("code", 64) : undefined;
  const dropped = f.has("dropped") ? f.int("dropped") : undefined;
  const v = f.has("v") ? f.int("v") : undefined;
  const cmd = f.has("cmd") ? f.bytes("cmd", 32) : undefined;
  if (cmd !== undefined) event.cmd = cmd;
  if (key !== undefined) event.key = key;
  if (code !== undefined) event.code = code;
  if (dropped !== undefined) event.dropped = dropped;
  if (v !== undefined) event.v = v;
  return event;
}
