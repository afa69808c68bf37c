import { createHash } from "node:crypto";
import {
  deriveReportKey,
  encodeSetupCode,
  fingerprint,
  fromBase64Url,
  keyPairFromSeed,
  type LockEvent,
  type SignedLockState,
  sealReport,
  toBase64Url,
  toHex,
  verifyLockState,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import type { Secrets } from "./evidence.js";

const seed = (label: string) => new Uint8Array(createHash("sha256").update(label).digest());

/**
 * A lock played in code by a test that speaks the cloud's bridge API itself (no lock-sim, no broker): the identity a
 * factory made for it (deterministic from its id and `label`), the setup code printed on it, and the reports it seals
 * under the report key its signed state names (docs/reports.md). It keeps its own report counter, as a lock does.
 */
export class PaperLock {
  readonly claimSecret: Uint8Array;
  readonly identityPublic: Uint8Array;
  readonly agreement: { privateKey: Uint8Array; publicKey: Uint8Array };
  /** The printed setup code (lock id, claim secret, fingerprint of both public keys): it holds a secret. */
  readonly setupCode: string;
  private counter = 0;
  private reportKeyCache: { kid: string; key: Uint8Array } | null = null;

  constructor(
    readonly lockId: string,
    label = "factory",
  ) {
    this.claimSecret = seed(`${label}: claim secret of ${lockId}`).subarray(0, 16);
    this.identityPublic = keyPairFromSeed(seed(`${label}: identity of ${lockId}`)).publicKey;
    this.agreement = x25519KeyPairFromSeed(seed(`${label}: x25519 of ${lockId}`));
    this.setupCode = encodeSetupCode({
      lockId,
      claimSecret: this.claimSecret,
      fingerprint: fingerprint({ identityKey: this.identityPublic, agreementKey: this.agreement.publicKey }),
    });
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
    return { identity: toBase64Url(this.identityPublic), x25519: toBase64Url(this.agreement.publicKey) };
  }

  /** The state as the bridge API hands it over (base64url), verified as the unpinned lock would (its pin tag). */
  readState(state: string): SignedLockState {
    const verdict = verifyLockState(fromBase64Url(state), { lockId: this.lockId, claimSecret: this.claimSecret });
    if (!verdict.ok) throw new Error(`the state for ${this.lockId} is refused (${verdict.code}): ${verdict.message}`);
    return verdict.state;
  }

  /** The report key the state names, derived as the lock does (X25519 then HKDF, docs/reports.md "Report key"). */
  reportKey(state: SignedLockState): Uint8Array {
    const kid = toHex(state.reportKey.id);
    if (this.reportKeyCache?.kid !== kid) {
      const key = deriveReportKey({
        lockId: this.lockId,
        cloudKeyId: state.reportKey.id,
        lockPrivate: this.agreement.privateKey,
        peerPublic: state.reportKey.x,
      });
      this.reportKeyCache = { kid, key };
    }
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
