import { createHash } from "node:crypto";
import { type LockEvent, type SignedLockState, sealReport, toBase64Url, toHex } from "@latchkey/protocol";
import { type FactoryLock, factoryLockFrom, readLockState, reportKeyOf } from "@latchkey/protocol/testing/factory-lock";
import type { Secrets } from "./evidence.js";

const seed = (label: string) => new Uint8Array(createHash("sha256").update(label).digest());

/**
 * A lock played in code by a test that speaks the cloud's bridge API itself (no lock-sim, no broker): the identity a
 * factory made for it (deterministic from its id and `label`), the setup code printed on it, and the reports it seals
 * under the report key its signed state names (docs/reports.md). It keeps its own report counter, as a lock does.
 */
export class PaperLock {
  private readonly factory: FactoryLock;
  private counter = 0;
  private reportKeyCache: { kid: string; key: Uint8Array } | null = null;

  constructor(
    readonly lockId: string,
    label = "factory",
  ) {
    this.factory = factoryLockFrom(lockId, {
      claimSecret: seed(`${label}: claim secret of ${lockId}`).subarray(0, 16),
      identitySeed: seed(`${label}: identity of ${lockId}`),
      agreementSeed: seed(`${label}: x25519 of ${lockId}`),
    });
  }

  get claimSecret(): Uint8Array {
    return this.factory.claimSecret;
  }

  get identityPublic(): Uint8Array {
    return this.factory.keys.identityKey;
  }

  get agreement(): { privateKey: Uint8Array; publicKey: Uint8Array } {
    return this.factory.agreement;
  }

  /** The printed setup code (lock id, claim secret, fingerprint of both public keys): it holds a secret. */
  get setupCode(): string {
    return this.factory.setupCode;
  }

  /** Registers what this lock holds that no log or answer may show (the claim secret, the setup code). */
  track(secrets: Secrets): this {
    secrets.add(`claim secret of ${this.lockId}`, toHex(this.claimSecret));
    secrets.add(`claim secret of ${this.lockId} (base64url)`, toBase64Url(this.claimSecret));
    secrets.add(`setup code of ${this.lockId}`, this.setupCode);
    return this;
  }

  /** The `keys` a bridge attaches to the lock's report items (docs/bridge-api.md "Reports from the lock"). */
  get keys(): { identity: string; x25519: string } {
    return this.factory.wireKeys;
  }

  /** The state as the bridge API hands it over (base64url), verified as the unpinned lock would (its pin tag). */
  readState(state: string): SignedLockState {
    return readLockState(this.factory, state);
  }

  /** The report key the state names, derived as the lock does (X25519 then HKDF, docs/reports.md "Report key"). */
  reportKey(state: SignedLockState): Uint8Array {
    const kid = toHex(state.reportKey.id);
    if (this.reportKeyCache?.kid !== kid) this.reportKeyCache = { kid, key: reportKeyOf(this.factory, state).key };
    return this.reportKeyCache.key;
  }

  /** One event sealed under the state's report key with the lock's next counter, base64url as a bridge uploads it. */
  sealEvent(state: SignedLockState, event: Omit<LockEvent, "lock">): string {
    return toBase64Url(
      sealReport({
        kind: "event",
        event: { ...event, lock: this.lockId },
        key: this.reportKey(state),
        cloudKeyId: state.reportKey.id,
        ctr: ++this.counter,
      }),
    );
  }
}
