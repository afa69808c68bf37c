import {
  decodeSetupCode,
  decodeTimeRequest,
  keyPairFromSeed,
  pinTag,
  type RemoteAction,
  type SignedLockState,
  signHandOver,
  signLockState,
  signRemoteCommand,
  signTimeAnswer,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import { seededRandom } from "../../src/random.js";
import type { Issuer } from "./keys.js";

/**
 * Plays the cloud with protocol's own signers (docs/trust.md): a lock holder's authority that knows a lock's claim
 * secret only from its setup code, as the Integrator API would hand it over.
 */
export interface Authority {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export function makeAuthority(seed: string): Authority {
  return keyPairFromSeed(seededRandom(`authority:${seed}`)(32));
}

export const reportKeyPair = x25519KeyPairFromSeed(seededRandom("cloud-report-key")(32));
export const REPORT_KID = new Uint8Array([0xa1, 0xa2, 0xa3, 0xa4]);

let lastV = 0;

export interface StateOptions {
  authority: Authority;
  /** The setup code the cloud was given: with it the state carries a pin tag for this authority. */
  setupCode?: string;
  /** Pin tag made with this claim secret instead (a wrong one, for the attacks). */
  claimSecret?: Uint8Array;
  handOver?: Uint8Array;
  /** Payload fields; `v` defaults to one more than any state made so far. */
  state?: Partial<SignedLockState>;
  issuers?: { issuer: Issuer; notAfter: number }[];
}

export function signState(lockId: string, iat: number, options: StateOptions): Uint8Array {
  const state: SignedLockState = {
    lock: lockId,
    v: ++lastV,
    iat,
    issuers: (options.issuers ?? []).map((i) => ({ kid: i.issuer.kid, x: i.issuer.publicKey, notAfter: i.notAfter })),
    revoked: [],
    ack: 0,
    reportKey: { id: REPORT_KID, x: reportKeyPair.publicKey },
    ...options.state,
  };
  lastV = Math.max(lastV, state.v);
  const secret =
    options.claimSecret ??
    (options.setupCode === undefined ? undefined : decodeSetupCode(options.setupCode).claimSecret);
  return signLockState(state, {
    secretKey: options.authority.secretKey,
    ...(secret === undefined ? {} : { pinTag: pinTag(secret, lockId, options.authority.publicKey) }),
    ...(options.handOver === undefined ? {} : { handOver: options.handOver }),
  });
}

export function handOver(from: Authority, to: Authority, fromV: number): Uint8Array {
  return signHandOver({ newKey: to.publicKey, fromV }, from.secretKey);
}

/** The cloud's answer to a lock's time request, at `timeMs` (its own, correct, clock). */
export function answerTime(request: Uint8Array, timeMs: number, authority: Authority): Uint8Array {
  const { lock, nonce } = decodeTimeRequest(request);
  return signTimeAnswer({ lock, nonce, time: timeMs }, authority.secretKey);
}

export function command(
  lockId: string,
  nonce: Uint8Array,
  counter: number,
  authority: Authority,
  action: RemoteAction = "unlock",
): Uint8Array {
  return signRemoteCommand({ lock: lockId, nonce, counter, action }, authority.secretKey);
}
