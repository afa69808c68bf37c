import { bytesEqual } from "../bytes.js";
import { type Ed25519Backend, isStrongPublicKey } from "../crypto/ed25519.js";
import {
  checkSignature,
  type OpenedDocument,
  openDocument,
  readPayload,
  refuse,
  settle,
  type TrustVerdict,
} from "./document.js";
import { type HandOver, verifyHandOver } from "./handover.js";
import { MAX_STATE_BYTES, TrustHeaderLabel, TrustTyp } from "./labels.js";
import { checkPinTag } from "./pin.js";
import { readState, type SignedLockState } from "./state.js";

export interface VerifyLockStateOptions {
  /** The id of the lock doing the verification. */
  lockId: string;
  /** The authority key the lock has pinned; absent while unpinned (new, or after a factory reset). */
  authority?: Uint8Array;
  /** The lock's printed claim secret: needed to pin an authority while unpinned. */
  claimSecret?: Uint8Array;
  /** The `v` of the state the lock has applied (absent: none yet). */
  currentV?: number;
  backend?: Ed25519Backend;
}

/** How the authority of an accepted state relates to the lock's pin. */
export type PinChange = "kept" | "first" | "handover";

export type VerifyLockStateResult = TrustVerdict<{
  state: SignedLockState;
  /** The authority key to pin from now on (the same one unless `pin` is `first` or `handover`). */
  authority: Uint8Array;
  pin: PinChange;
}>;

interface ChosenKey {
  key: Uint8Array;
  pin: PinChange;
  handOver?: HandOver;
}

/**
 * Which key the state's signature must verify under, decided from the protected header alone, before any payload is
 * read (docs/trust.md "Verification order", step 4).
 */
function chooseKey(doc: OpenedDocument, options: VerifyLockStateOptions): ChosenKey {
  const pinned = options.authority;
  if (pinned !== undefined) {
    if (bytesEqual(doc.signer, pinned)) return { key: pinned, pin: "kept" };
    const carried = doc.header.get(TrustHeaderLabel.handOver);
    if (carried === undefined) refuse("wrong_authority", "signed by another authority than the pinned one");
    if (!(carried instanceof Uint8Array)) refuse("bad_handover", "the hand-over must be a byte string");
    const verdict = verifyHandOver(carried, { authority: pinned, backend: options.backend });
    if (!verdict.ok) refuse("bad_handover", `hand-over refused (${verdict.code}): ${verdict.message}`);
    if (!bytesEqual(verdict.handOver.newKey, doc.signer)) {
      refuse("bad_handover", "the hand-over names another key than the state's signer");
    }
    return { key: verdict.handOver.newKey, pin: "handover", handOver: verdict.handOver };
  }
  const tag = doc.header.get(TrustHeaderLabel.pinTag);
  if (tag === undefined) refuse("bad_pin", "the lock is unpinned and the state carries no pin tag");
  if (options.claimSecret === undefined || !checkPinTag(options.claimSecret, options.lockId, doc.signer, tag)) {
    refuse("bad_pin", "the pin tag does not vouch for this authority at this lock");
  }
  if (!isStrongPublicKey(doc.signer)) refuse("bad_pin", "the authority key is not a valid Ed25519 public key");
  return { key: doc.signer, pin: "first" };
}

/**
 * Verifies a signed lock state at the lock, in the order of docs/trust.md: size cap; envelope, depth, alg and typ;
 * the key (pinned authority, a hand-over from it, or a pin tag while unpinned); the signature over the raw bytes;
 * then the payload, the lock id and the version. Never throws.
 */
export function verifyLockState(bytes: Uint8Array, options: VerifyLockStateOptions): VerifyLockStateResult {
  return settle(() => {
    const doc = openDocument(bytes, TrustTyp.state, MAX_STATE_BYTES);
    const chosen = chooseKey(doc, options);
    checkSignature(doc, chosen.key, options.backend);
    const state = readState(readPayload(doc, "state"));
    if (state.lock !== options.lockId) refuse("wrong_lock", "the state is for another lock");
    if (options.currentV !== undefined && state.v <= options.currentV) {
      refuse("stale_version", `v ${state.v} is not newer than the applied ${options.currentV}`);
    }
    if (chosen.handOver !== undefined && state.v < chosen.handOver.fromV) {
      refuse("bad_handover", `the hand-over starts at v ${chosen.handOver.fromV}, the state is v ${state.v}`);
    }
    return { state, authority: new Uint8Array(chosen.key), pin: chosen.pin };
  });
}
