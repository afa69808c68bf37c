import { createHash } from "node:crypto";
import type { SimLock } from "@latchkey/lock-sim";
import {
  type Clock,
  decodeSetupCode,
  decodeTimeRequest,
  keyPairFromSeed,
  pinTag,
  type SignedLockState,
  signLockState,
  signTimeAnswer,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";

const seed = (label: string) => new Uint8Array(createHash("sha256").update(label).digest());

/** An issuer key the played cloud puts on a lock's state, trusted until `notAfter` (unix seconds). */
export interface PlayedIssuer {
  kid: Uint8Array;
  publicKey: Uint8Array;
  notAfter: number;
}

/**
 * Plays the cloud for a lock that runs without one (a test of the lock alone): a lock holder's authority that knows
 * the lock's claim secret from its setup code, hands it a signed state (pinned with the claim secret the first time,
 * docs/trust.md "Lock state") through the `state` command, and answers its time request through `time_request` /
 * `time_answer`, as a courier would carry them. The lock then trusts exactly the issuers and revocations given.
 */
export class PlayedCloud {
  readonly authority: { secretKey: Uint8Array; publicKey: Uint8Array };
  private readonly reportKey = x25519KeyPairFromSeed(seed("played cloud report key"));
  private v = 0;

  constructor(
    label: string,
    private readonly clock: Clock,
  ) {
    this.authority = keyPairFromSeed(seed(`played cloud authority ${label}`));
  }

  /** A signed state for `lock` (a new `v` each time) with these issuers and `extra` fields. */
  state(lock: Pick<SimLock, "id" | "setupCode">, issuers: PlayedIssuer[], extra: Partial<SignedLockState> = {}) {
    const { claimSecret } = decodeSetupCode(lock.setupCode);
    return signLockState(
      {
        lock: lock.id,
        v: ++this.v,
        iat: Math.floor(this.clock.now() / 1000),
        issuers: issuers.map((i) => ({ kid: i.kid, x: i.publicKey, notAfter: i.notAfter })),
        revoked: [],
        ack: 0,
        reportKey: { id: Uint8Array.of(0x70, 0x63), x: this.reportKey.publicKey },
        ...extra,
      },
      { secretKey: this.authority.secretKey, pinTag: pinTag(claimSecret, lock.id, this.authority.publicKey) },
    );
  }

  /** Hands `lock` a state trusting `issuers`, then signed time at the played cloud's clock; throws on a refusal. */
  provision(lock: SimLock, issuers: PlayedIssuer[], extra: Partial<SignedLockState> = {}): void {
    const applied = lock.command({ id: "played-state", type: "state", doc: this.state(lock, issuers, extra) });
    if (!applied.ok) throw new Error(`${lock.id} refused the played state: ${applied.code} ${applied.message ?? ""}`);
    const asked = lock.command({ id: "played-time-request", type: "time_request" });
    if (!asked.ok || asked.request === undefined) throw new Error(`${lock.id} made no time request: ${asked.code}`);
    const { nonce } = decodeTimeRequest(asked.request);
    const answer = signTimeAnswer({ lock: lock.id, nonce, time: this.clock.now() }, this.authority.secretKey);
    const timed = lock.command({ id: "played-time-answer", type: "time_answer", answer });
    if (!timed.ok) throw new Error(`${lock.id} refused the played time: ${timed.code} ${timed.message ?? ""}`);
  }
}
