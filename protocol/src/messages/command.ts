import { encodeCbor } from "../cbor/encode.js";
import { ProtocolError, type TokenErrorCode, type TrustErrorCode } from "../errors.js";
import { MAX_REPORT_BYTES } from "../reports/report.js";
import { MAX_TOKEN_BYTES } from "../token/claims.js";
import { NONCE_BYTES } from "../token/proof.js";
import { MAX_SMALL_DOCUMENT_BYTES, MAX_STATE_BYTES } from "../trust/labels.js";
import { Fields } from "./fields.js";

/**
 * Commands to a lock and their results, the same over MQTT (`cmd` / `cmd/result`) and BLE (docs/mqtt.md "Commands"):
 * - `challenge` → result with a fresh `nonce` (a phone's unlock challenge);
 * - `unlock` with `token`, `proof` and the `nonce` it answers → result `ok`, or `code` (a verification code);
 * - `lock` → re-lock now; `ping` → result with the lock's `state`, the `v` of its applied signed state (0: none) and
 *   its public `keys`;
 * - courier commands (docs/trust.md): they carry documents the lock verifies itself, so whoever sends them needs no
 *   secret and gains nothing by lying:
 *   `state` with a signed lock state `doc` → result with the `v` the lock runs after it (or the refusal `code`);
 *   `time_request` → result with the lock's time `request` (a fresh nonce of its time book);
 *   `time_answer` with the cloud's signed `answer` → result ok or the refusal `code`;
 *   `reports` with `after` (a report counter) → up to MAX_REPORTS_PER_RESULT sealed reports (COSE_Mac0, docs/reports.md)
 *   with a higher counter; nothing is freed by asking: the lock frees events only up to its signed state's `ack`;
 *   `command_nonce` → result with a fresh `nonce` of the lock's command book;
 *   `remote` with a signed remote `command` (docs/trust.md "Remote commands") → result ok or the refusal `code`.
 */
export const COMMAND_TYPES = [
  "challenge",
  "unlock",
  "lock",
  "ping",
  "state",
  "time_request",
  "time_answer",
  "reports",
  "command_nonce",
  "remote",
] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export const LOCK_STATES = ["locked", "unlocked", "jammed"] as const;
export type LockState = (typeof LOCK_STATES)[number];

export type Command =
  | { id: string; type: "challenge" }
  | { id: string; type: "unlock"; token: Uint8Array; proof: Uint8Array; nonce: Uint8Array }
  | { id: string; type: "lock" }
  | { id: string; type: "ping" }
  | { id: string; type: "state"; doc: Uint8Array }
  | { id: string; type: "time_request" }
  | { id: string; type: "time_answer"; answer: Uint8Array }
  | { id: string; type: "reports"; after: number }
  | { id: string; type: "command_nonce" }
  | { id: string; type: "remote"; command: Uint8Array };

export const MAX_REPORTS_PER_RESULT = 8;

/**
 * Result codes: a token verification code, a trust verdict code (a courier command's document refused, docs/trust.md
 * "Codes"), or a lock-level refusal. `clock_unset`: the lock has no signed time yet and refuses every key, since every
 * key is time-bound. `no_state`: no signed state applied yet (the lock trusts no issuer). `state_stale`: the newest
 * state is older than its `maxStale`. `too_many_challenges`: a `challenge` refused because the connection already holds
 * its share of live nonces, or the lock's nonce book is full of live ones (docs/mqtt.md, "BLE"); live nonces are never
 * evicted, so this clears as they are used or expire.
 */
export type CommandResultCode =
  | TokenErrorCode
  | TrustErrorCode
  | "clock_unset"
  | "no_state"
  | "state_stale"
  | "jammed"
  | "busy"
  | "invalid_command"
  | "timeout"
  | "too_many_challenges";

export const CLOCK_UNSET = "clock_unset";

/** The lock's public keys, as `ping` answers them (and the `keys` topic carries them, `encodeLockKeys`). */
export interface CommandResultKeys {
  identity: Uint8Array;
  x25519: Uint8Array;
}

export interface CommandResult {
  id: string;
  ok: boolean;
  code?: CommandResultCode;
  message?: string;
  nonce?: Uint8Array;
  state?: LockState;
  /** The `v` of the signed state the lock runs (`state`, `ping`); 0 when it has none. */
  v?: number;
  /** Sealed reports (`reports`). */
  reports?: Uint8Array[];
  /** The lock's encoded time request (`time_request`). */
  request?: Uint8Array;
  /** The lock's public keys (`ping`). */
  keys?: CommandResultKeys;
}

const MAX_COMMAND_BYTES = MAX_STATE_BYTES + 512;
const MAX_RESULT_BYTES = MAX_REPORTS_PER_RESULT * MAX_REPORT_BYTES + 1024;
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
  if (type === "state") return { id, type, doc: f.bytes("doc", undefined, MAX_STATE_BYTES) };
  if (type === "time_answer") return { id, type, answer: f.bytes("answer", undefined, MAX_SMALL_DOCUMENT_BYTES) };
  if (type === "reports") return { id, type, after: f.int("after") };
  if (type === "remote") return { id, type, command: f.bytes("command", undefined, MAX_SMALL_DOCUMENT_BYTES) };
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
    reports: result.reports,
    request: result.request,
    keys: result.keys && { identity: result.keys.identity, x25519: result.keys.x25519 },
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
  const reports = f.optional("reports", (n) =>
    f.array(n, MAX_REPORTS_PER_RESULT).map((item, i): Uint8Array => {
      if (item instanceof Uint8Array && item.length <= MAX_REPORT_BYTES) return item;
      return f.fail(`${n}[${i}]`, "a sealed report");
    }),
  );
  const request = f.optional("request", (n) => f.bytes(n, undefined, MAX_SMALL_DOCUMENT_BYTES));
  const keys = f.optional("keys", (n) => {
    const k = f.nested(n, f.raw(n));
    return { identity: k.bytes("identity", 32), x25519: k.bytes("x25519", 32) };
  });
  if (v !== undefined) result.v = v;
  if (reports !== undefined) result.reports = reports;
  if (request !== undefined) result.request = request;
  if (keys !== undefined) result.keys = keys;
  if (code !== undefined) result.code = code as CommandResultCode;
  if (message !== undefined) result.message = message;
  if (nonce !== undefined) result.nonce = nonce;
  if (state !== undefined) result.state = state;
  return result;
}
