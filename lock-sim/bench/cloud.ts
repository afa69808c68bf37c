import {
  decodeSetupCode,
  decodeTimeRequest,
  keyPairFromSeed,
  pinTag,
  type StateIssuer,
  signLockState,
  signTimeAnswer,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import type { SimLock } from "../src/lock/sim-lock.js";
import type { RandomSource } from "../src/random.js";

/**
 * The lock holder's side for the benchmarks, with protocol's own signers (docs/trust.md): an authority that knows each
 * lock's claim secret only from its setup code, as the Integrator API would be given it. A lock opens nothing and
 * reports nothing before its signed state, so every benchmark lock gets one (and signed time) before it is measured.
 */
export class BenchCloud {
  private readonly authority: { secretKey: Uint8Array; publicKey: Uint8Array };
  private readonly reportKey: { id: Uint8Array; x: Uint8Array };
  private readonly lastV = new Map<string, number>();

  constructor(random: RandomSource) {
    this.authority = keyPairFromSeed(random(32));
    this.reportKey = { id: random(8), x: x25519KeyPairFromSeed(random(32)).publicKey };
  }

  /** The lock's next signed state: `issuers`, events stored through `ack`, pinned by its setup code. */
  state(lockId: string, setupCode: string, issuers: StateIssuer[], ack = 0, nowMs = Date.now()): Uint8Array {
    const v = Math.max((this.lastV.get(lockId) ?? 0) + 1, nowMs);
    this.lastV.set(lockId, v);
    const { claimSecret } = decodeSetupCode(setupCode);
    return signLockState(
      { lock: lockId, v, iat: Math.floor(nowMs / 1000), issuers, revoked: [], ack, reportKey: this.reportKey },
      { secretKey: this.authority.secretKey, pinTag: pinTag(claimSecret, lockId, this.authority.publicKey) },
    );
  }

  /** The answer to a lock's time request, at the cloud's time. */
  answerTime(request: Uint8Array, nowMs = Date.now()): Uint8Array {
    const { lock, nonce } = decodeTimeRequest(request);
    return signTimeAnswer({ lock, nonce, time: nowMs }, this.authority.secretKey);
  }

  /** A state straight at the lock (as a BLE courier would carry it); throws when it refuses. */
  applyState(lock: SimLock, issuers: StateIssuer[], ack = 0): void {
    const doc = this.state(lock.id, lock.setupCode, issuers, ack);
    const applied = lock.command({ id: "bench-state", type: "state", doc });
    if (!applied.ok) throw new Error(`lock ${lock.id} refused its state: ${applied.code}`);
  }

  /** A first state and signed time straight at the lock; throws when it refuses either. */
  provision(lock: SimLock, issuers: StateIssuer[]): void {
    this.applyState(lock, issuers);
    const asked = lock.command({ id: "bench-time", type: "time_request" });
    if (!asked.ok || asked.request === undefined)
      throw new Error(`lock ${lock.id} made no time request: ${asked.code}`);
    const answered = lock.command({ id: "bench-answer", type: "time_answer", answer: this.answerTime(asked.request) });
    if (!answered.ok) throw new Error(`lock ${lock.id} refused its time answer: ${answered.code}`);
  }
}
