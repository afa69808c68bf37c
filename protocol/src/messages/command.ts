import { encodeCbor } from "../cbor/encode.js";
import { ProtocolError, type TokenErrorCode } from "../errors.js";
import { MAX_TOKEN_BYTES } from "../token/claims.js";
import { NONCE_BYTES } from "../token/proof.js";
import { MAX_MESSAGE_BYTES } from "./event.js";
import { Fields } from "./fields.js";
import { MAX_SYNC_BYTES } from "./sync.js";

/**
 * Commands to a lock and their results, the same over MQTT (`cmd` / `cmd/result`) and BLE:
 * - `challenge` → result with a fresh `nonce`;
 * - `unlock` with `token`, `proof` and the `nonce` it answers → result `ok`, or `code` (a verification code);
 * - `lock` → re-lock now; `ping` → result with the lock's `state`;
 * - gateway commands, used by a bridge that reaches a lock over BLE instead of MQTT:
 *   `sync` with an encoded SyncMessage → result with the lock's applied version `v`;
 *   `events` with `after` (the highest seq the gateway has stored) → result with up to `MAX_EVENTS_PER_RESULT`
 *   encoded events of higher seq; the lock forgets events up to `after`, which acknowledges them.
 */
export const COMMAND_TYPES = ["challenge", "unlock", "lock", "ping", "sync", "events"] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export const LOCK_STATES = ["locked", "unlocked", "jammed"] as const;
export type LockState = (typeof LOCK_STATES)[number];

export type Command =
  | { id: string; type: "challenge" }
  | { id: string; type: "unlock"; token: Uint8Array; proof: Uint8Array; nonce: Uint8Array }
  | { id: string; type: "lock" }
  | { id: string; type: "ping" }
  | { id: string; type: "sync"; sync: Uint8Array }
  | { id: string; type: "events"; after: number };

export const MAX_EVENTS_PER_RESULT = 8;

/** Result codes: a token verification code, or a command failure. */
/**
 * Result codes: a token verification code, or a lock-level refusal. `clock_unset`: the lock lost its time (clock reset)
 * and refuses every key until a sync brings trusted time, since every key is time-bound. `too_many_challenges`: a
 * `challenge` refused because the connection already holds its share of live nonces, or the lock's nonce book is full
 * of live ones (docs/mqtt.md, "BLE"); live nonces are never evicted, so this clears as they are used or expire.
 */
export type CommandResultCode =
  | TokenErrorCode
  | "clock_unset"
  | "jammed"
  | "busy"
  | "invalid_command"
  | "timeout"
  | "too_many_challenges"
  // A sync whose `v` jumps more than MAX_SYNC_V_STEP past the lock's (docs/mqtt.md, "Sync versions").
  | "implausible_version";

export const CLOCK_UNSET = "clock_unset";

export interface CommandResult {
  id: string;
  ok: boolean;
  code?: CommandResultCode;
  message?: string;
  nonce?: Uint8Array;
  state?: LockState;
  /** Sync version the lock runs (`sync`, `ping`). */
  v?: number;
  /** Encoded events (`events`). */
  events?: Uint8Array[];
}

const MAX_COMMAND_BYTES = MAX_SYNC_BYTES + 512;
const MAX_RESULT_BYTES = MAX_EVENTS_PER_RESULT * MAX_MESSAGE_BYTES + 1024;
const COMMAND_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export function encodeCommand(cmd: Command): Uint8Array {
  return encodeCbor(cmd);
}

export function decodeCommand(bytes: Uint8Array): Command {
  if (bytes.length > MAX_COMMAND_BYTES)
    throw new ProtocolError("too_large", `command is ${bytes.length} bytes, over ${MAX_COMMAND_BYTES}`);
  const f = Fields.decode(bytes, "command", { maxBytes: MAX_COMMAND_BYTES });
  const id = f.text("id", 64, COMMAND_ID);
  const type = f.oneOf("type", COMMAND_TYPES);
  if (type === "unlock") {
    return {
      id,
      type,
      token: f.bytes("token", undefined, MAX_TOKEN_BYTES),
      proof: f.bytes("proof", 64),
      nonce: f.bytes("nonce", NONCE_BYTES),
    };
  }
  if (type === "sync") return { id, type, sync: f.bytes("sync", undefined, MAX_SYNC_BYTES) };
  if (type === "events") return { id, type, after: f.int("after") };
  return { id, type };
}

export function encodeCommandResult(result: CommandResult): Uint8Array {
  return encodeCbor({
    id: result.id,
    ok: result.ok,
    code: result.code,
    message: result.message,
    nonce: result.nonce,
    state: result.state,
    v: result.v,
    events: result.events,
  });
}

export function decodeCommandResult(bytes: Uint8Array): CommandResult {
  if (bytes.length > MAX_RESULT_BYTES) throw new ProtocolError("too_large", `command result is ${bytes.length} bytes`);
  const f = Fields.decode(bytes, "command result", { maxBytes: MAX_RESULT_BYTES });
  const result: CommandResult = { id: f.text("id", 64, COMMAND_ID), ok: f.bool("ok") };
  const code = f.optional("code", (n) => f.text(n, 64));
  const message = f.optional("message", (n) => f.text(n, 512));
  const nonce = f.optional("nonce", (n) => f.bytes(n, NONCE_BYTES));
  const state = f.optional("state", (n) => f.oneOf(n, LOCK_STATES));
  const v = f.optional("v", (n) => f.int(n));
  const events = f.optional("events", (n) =>
    f.array(n, MAX_EVENTS_PER_RESULT).map((item, i): Uint8Array => {
      if (item instanceof Uint8Array && item.length <= MAX_MESSAGE_BYTES) return item;
      return f.fail(`${n}[${i}]`, "an encoded event");
    }),
  );
  if (v !== undefined) result.v = v;
  if (events !== undefined) result.events = events;
  if (code !== undefined) result.code = code as CommandResultCode;
  if (message !== undefined) result.message = message;
  if (nonce !== undefined) result.nonce = nonce;
  if (state !== undefined) result.state = state;
  return result;
}
