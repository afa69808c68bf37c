import { timingSafeEqual } from "node:crypto";
import type { Ed25519Backend } from "../crypto/ed25519.js";
import { isValidLockId } from "../messages/fields.js";
import type { NonceBook } from "../token/nonce.js";
import { NONCE_BYTES, sha256 } from "../token/proof.js";
import { openSmallDocument, refuse, settle, signClaims, type TrustVerdict } from "./document.js";
import { CommandLabel, TrustTyp } from "./labels.js";
import { takeNonce } from "./nonce-check.js";

/**
 * Remote commands (docs/design.md section 7, docs/trust.md "Remote commands"): a COSE_Sign1 by the authority over
 * (lock, nonce, counter, action). The nonce is a fresh one from the lock's command nonce book and the counter must
 * rise strictly, so a command held back by a courier can be neither replayed nor played after a later one. The result
 * event carries sha256(nonce), so no unrelated `unlocked` event passes as this command's success.
 */
export const REMOTE_ACTIONS = ["unlock", "lock"] as const;
export type RemoteAction = (typeof REMOTE_ACTIONS)[number];

export interface RemoteCommand {
  lock: string;
  nonce: Uint8Array;
  /** Strictly increasing per lock, kept by the cloud. */
  counter: number;
  action: RemoteAction;
}

export function signRemoteCommand(
  command: RemoteCommand,
  authoritySecret: Uint8Array,
  backend?: Ed25519Backend,
): Uint8Array {
  if (!isValidLockId(command.lock)) throw new TypeError("lock must be a valid lock id");
  if (!(command.nonce instanceof Uint8Array) || command.nonce.length !== NONCE_BYTES) {
    throw new TypeError(`nonce must be ${NONCE_BYTES} bytes`);
  }
  if (!Number.isSafeInteger(command.counter) || command.counter < 1) throw new TypeError("counter must be >= 1");
  if (!REMOTE_ACTIONS.includes(command.action))
    throw new TypeError(`action must be one of ${REMOTE_ACTIONS.join(", ")}`);
  return signClaims(
    TrustTyp.command,
    [
      [CommandLabel.lock, command.lock],
      [CommandLabel.nonce, command.nonce],
      [CommandLabel.counter, command.counter],
      [CommandLabel.action, command.action],
    ],
    authoritySecret,
    backend,
  );
}

export interface VerifyRemoteCommandOptions {
  lockId: string;
  authority: Uint8Array;
  /** The lock's command nonce book. */
  nonces: NonceBook;
  nowMs: number;
  /** The highest counter the lock has executed (0 before the first). */
  lastCounter: number;
  backend?: Ed25519Backend;
}

/** On success the lock stores `command.counter` as its new last counter before acting. Never throws. */
export function verifyRemoteCommand(
  bytes: Uint8Array,
  options: VerifyRemoteCommandOptions,
): TrustVerdict<{ command: RemoteCommand }> {
  return settle(() => {
    const c = openSmallDocument(bytes, TrustTyp.command, "command", options.authority, options.backend);
    const lock = c.text(CommandLabel.lock, "lock", 64);
    const nonce = c.bytes(CommandLabel.nonce, "nonce", NONCE_BYTES);
    const counter = c.uint(CommandLabel.counter, "counter", 1);
    const action = c.get(CommandLabel.action);
    if (!REMOTE_ACTIONS.includes(action as RemoteAction)) c.fail("action", REMOTE_ACTIONS.join(" or "));
    if (lock !== options.lockId) refuse("wrong_lock", "the command is for another lock");
    takeNonce(options.nonces, nonce, options.nowMs);
    if (counter <= options.lastCounter) {
      refuse("stale_counter", `counter ${counter} is not above the last executed ${options.lastCounter}`);
    }
    return { command: { lock, nonce: new Uint8Array(nonce), counter, action: action as RemoteAction } };
  });
}

/** What a command's result event carries: sha256 of the command's nonce. */
export function commandResultBinding(nonce: Uint8Array): Uint8Array {
  return sha256(nonce);
}

/** Whether a result event's binding belongs to the command sent with `nonce`; constant time. */
export function resultMatchesCommand(binding: unknown, nonce: Uint8Array): boolean {
  if (!(binding instanceof Uint8Array) || binding.length !== 32) return false;
  return timingSafeEqual(binding, commandResultBinding(nonce));
}
