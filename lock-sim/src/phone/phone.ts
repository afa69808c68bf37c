import {
  type Clock,
  type CommandResult,
  type KeyClaims,
  keyPairFromSeed,
  peekAudience,
  signUnlockProof,
  type TrustedIssuer,
  TrustStore,
  toHex,
  verifyKeyToken,
} from "@latchkey/protocol";
import {
  AppApiClient,
  AppApiError,
  type AppLockState,
  type DeviceRegistration,
  type VerificationStarted,
} from "@latchkey/protocol/clients";
import { loadNobleWithBindings, type Noble } from "@latchkey/runtime";
import { type ConnectOptions, connectToLock, type LockSession, loadHardwareNoble } from "../ble/central.js";
import type { VirtualCentralBindings, VirtualRadio } from "../ble/virtual-radio.js";
import { type RandomSource, systemRandom } from "../random.js";

/** A key the phone holds: the token and its claims (checked against the issuers when stored). */
export interface PhoneKey {
  keyId?: string;
  lockId: string;
  lockName?: string;
  state: string;
  token: Uint8Array;
  claims: KeyClaims;
}

export interface PhoneOptions {
  /** Device key material and command ids; a seeded source makes a phone reproducible. */
  random?: RandomSource;
  /** The phone's own clock, used to pick a key that is valid now (the lock decides). */
  clock?: Clock;
  fetch?: typeof fetch;
  /** The device key's 32-byte seed, to restore a phone that was registered before (default: drawn from `random`). */
  deviceSeed?: Uint8Array;
}

export interface UnlockOptions extends ConnectOptions {
  /** Reach the lock on this virtual radio… */
  radio?: VirtualRadio;
  /** …or with this noble instance (default: noble on the host's Bluetooth adapter). */
  noble?: Noble;
}

/**
 * The answer of the lock's `unlock` (or the refusal before it), with the key used and, when the phone carried a newer
 * signed state to the lock first, what the lock made of it (`v` it runs after, or the refusal code).
 */
export type UnlockOutcome = CommandResult & {
  keyId?: string;
  delivered?: { v: number; ok: boolean; code?: string };
};

export class PhoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PhoneError";
  }
}

/** Leeway for the phone's own choice of key: it only skips keys that are clearly outside their window. */
const PICK_LEEWAY = 60;
const NO_TIME_CHECK = 2 ** 52;

/**
 * A key holder's phone: an Ed25519 device key, the tokens prefetched from the cloud's app API (docs/app-api.md), and
 * the challenge-response of docs/design.md section 2 over BLE. It opens doors offline: after `prefetch`, `unlock` needs only
 * the radio. It is also a courier (docs/design.md section 7 "Couriers"): it keeps the newest signed state of each lock
 * its prefetches carried, and hands it to the lock before unlocking when the lock runs an older one, so a revocation
 * reaches a lock no bridge reaches at the next visit of any phone.
 */
export class Phone {
  readonly devicePublicKey: Uint8Array;
  private readonly deviceSecretKey: Uint8Array;
  private readonly random: RandomSource;
  private readonly clock: Clock;
  private readonly fetchImpl: typeof fetch;
  private readonly stored = new Map<string, PhoneKey>();
  private readonly signedStates = new Map<string, AppLockState>();
  private readonly nobles = new Map<VirtualRadio, { noble: Noble; bindings: VirtualCentralBindings }>();
  accessToken: string | undefined;
  userId: string | undefined;
  private counter = 0;

  constructor(options: PhoneOptions = {}) {
    this.random = options.random ?? systemRandom;
    this.clock = options.clock ?? { now: () => Date.now() };
    this.fetchImpl = options.fetch ?? fetch;
    const pair = keyPairFromSeed(options.deviceSeed ?? this.random(32));
    this.deviceSecretKey = pair.secretKey;
    this.devicePublicKey = pair.publicKey;
  }

  get keys(): PhoneKey[] {
    return [...this.stored.values()];
  }

  /**
   * The latest signed state of each claimed lock its keys open, as the last prefetch carried them (docs/app-api.md):
   * the phone is a courier for them (docs/trust.md), it does not verify them; the lock does.
   */
  get states(): AppLockState[] {
    return [...this.signedStates.values()];
  }

  // ── app API ────────────────────────────────────────────────────────────────────────────────────────────────────

  requestVerification(cloudUrl: string, phoneNumber: string, countryIso?: string): Promise<VerificationStarted> {
    return new AppApiClient(cloudUrl, this.fetchImpl).requestVerification(phoneNumber, countryIso);
  }

  /** Confirms the one-time code and registers this phone's device key; keeps the access token. */
  async confirm(
    cloudUrl: string,
    verificationId: string,
    code: string,
    deviceName?: string,
  ): Promise<DeviceRegistration> {
    const input: { code: string; devicePublicKey: string; deviceName?: string } = {
      code,
      devicePublicKey: toHex(this.devicePublicKey),
    };
    if (deviceName !== undefined) input.deviceName = deviceName;
    const registration = await new AppApiClient(cloudUrl, this.fetchImpl).confirm(verificationId, input);
    this.accessToken = registration.accessToken;
    this.userId = registration.userId;
    return registration;
  }

  /**
   * Fetches every key of this phone's user (docs/app-api.md step 3) and keeps them, replacing what it had. Tokens are
   * checked on arrival: signed by an issuer the answer lists, and bound (`cnf`) to this phone's device key.
   */
  async prefetch(cloudUrl: string, accessToken: string | undefined = this.accessToken): Promise<PhoneKey[]> {
    if (accessToken === undefined) throw new PhoneError("prefetch needs an access token: confirm a verification first");
    const answer = await new AppApiClient(cloudUrl, this.fetchImpl).keys(accessToken);
    const issuers = answer.issuers.map((i) => ({ kid: i.kid, publicKey: i.x }));
    const keys = answer.keys.map((k) => {
      const key: PhoneKey = {
        lockId: k.lockId,
        state: k.state,
        token: k.token,
        claims: this.check(k.token, k.lockId, issuers),
      };
      key.keyId = k.keyId;
      if (k.lockName !== undefined) key.lockName = k.lockName;
      return key;
    });
    this.stored.clear();
    for (const k of keys) this.stored.set(toHex(k.claims.cti), k);
    for (const st of answer.states) this.addState(st);
    this.userId = answer.userId;
    return keys;
  }

  /**
   * Keeps a lock's signed state to carry, unless the phone already holds a newer one for that lock: a prefetch
   * answered from a stale cache (or a replayed answer) never takes a newer state away. The phone does not verify it:
   * the lock does (docs/trust.md).
   */
  addState(state: AppLockState): void {
    const held = this.signedStates.get(state.lockId);
    if (held === undefined || state.v > held.v) this.signedStates.set(state.lockId, state);
  }

  /** Forgets this device at the cloud (docs/app-api.md step 4) and drops the tokens it held. */
  async forgetDevice(cloudUrl: string): Promise<void> {
    if (this.accessToken === undefined) throw new PhoneError("this phone is not registered");
    await new AppApiClient(cloudUrl, this.fetchImpl).forgetDevice(this.accessToken);
    this.accessToken = undefined;
    this.stored.clear();
    this.signedStates.clear();
  }

  /** Stores a token obtained some other way (tests mint them with protocol `signKeyToken`). */
  addToken(token: Uint8Array, issuers: TrustedIssuer[]): PhoneKey {
    const claims = this.check(token, undefined, issuers);
    const key: PhoneKey = { lockId: claims.aud, state: "active", token, claims };
    this.stored.set(toHex(claims.cti), key);
    return key;
  }

  private check(token: Uint8Array, lockId: string | undefined, issuers: TrustedIssuer[]): KeyClaims {
    let trust: TrustStore;
    try {
      trust = new TrustStore(issuers);
    } catch (e) {
      throw new PhoneError(`an issuer key is not valid: ${(e as Error).message}`);
    }
    const aud = lockId ?? peekAudience(token);
    if (aud === undefined) throw new PhoneError("a key token names no valid lock (aud)");
    const verdict = verifyKeyToken(token, { trust, lockId: aud, now: 0, leeway: NO_TIME_CHECK });
    if (!verdict.ok) throw new PhoneError(`a key token for ${aud} was refused: ${verdict.code} (${verdict.message})`);
    if (toHex(verdict.claims.cnf) !== toHex(this.devicePublicKey)) {
      throw new PhoneError(`the key token for ${aud} is bound to another device key`);
    }
    return verdict.claims;
  }

  // ── opening a door ─────────────────────────────────────────────────────────────────────────────────────────────

  /** The key this phone would use for `lockId` now: valid by the phone's clock, the one lasting longest. */
  keyFor(lockId: string): PhoneKey {
    const now = Math.floor(this.clock.now() / 1000);
    const forLock = this.keys.filter((k) => k.lockId === lockId && k.claims.aud === lockId && k.state !== "revoked");
    if (forLock.length === 0) throw new PhoneError(`this phone holds no key for lock ${lockId}`);
    const usable = forLock.filter((k) => now >= k.claims.nbf - PICK_LEEWAY && now < k.claims.exp + PICK_LEEWAY);
    if (usable.length === 0) throw new PhoneError(`this phone's keys for lock ${lockId} are not valid now`);
    return usable.reduce((best, k) => (k.claims.exp > best.claims.exp ? k : best));
  }

  /**
   * Opens `lockId` over BLE: find it, `ping` it and, when the phone holds a newer signed state than the `v` the lock
   * runs, hand it over (`state`) first; then challenge, prove possession of the device key, unlock. Works offline. A
   * state the lock refuses does not stop the unlock: the lock decides with what it has.
   */
  async unlock(lockId: string, options: UnlockOptions = {}): Promise<UnlockOutcome> {
    const key = this.keyFor(lockId);
    const noble = options.noble ?? (options.radio ? await this.nobleOn(options.radio) : await loadHardwareNoble());
    const session = await connectToLock(noble, lockId, options);
    try {
      const delivered = await this.deliverState(session, lockId);
      const challenge = await session.request({ id: this.nextId(), type: "challenge" });
      if (!challenge.ok || challenge.nonce === undefined) return { ...challenge, ok: false, ...delivered };
      const proof = signUnlockProof({
        lockId,
        nonce: challenge.nonce,
        token: key.token,
        deviceSecretKey: this.deviceSecretKey,
      });
      const result = await session.request({
        id: this.nextId(),
        type: "unlock",
        token: key.token,
        nonce: challenge.nonce,
        proof,
      });
      const outcome: UnlockOutcome = { ...result, ...delivered };
      if (key.keyId !== undefined) outcome.keyId = key.keyId;
      return outcome;
    } finally {
      await session.close();
    }
  }

  /** `ping`, then `state` when the phone's state for the lock is newer than the one it runs. */
  private async deliverState(session: LockSession, lockId: string): Promise<Pick<UnlockOutcome, "delivered">> {
    const held = this.signedStates.get(lockId);
    if (held === undefined) return {};
    const ping = await session.request({ id: this.nextId(), type: "ping" });
    if (!ping.ok || held.v <= (ping.v ?? 0)) return {};
    const answer = await session.request({ id: this.nextId(), type: "state", doc: held.state });
    const delivered: NonNullable<UnlockOutcome["delivered"]> = { v: answer.v ?? 0, ok: answer.ok };
    if (answer.code !== undefined) delivered.code = answer.code;
    return { delivered };
  }

  /**
   * Opens one of the cloud's virtual (cloud-hosted test) locks through the app API (docs/app-api.md step 5): the same
   * challenge-response, carried over HTTPS instead of BLE. A refusal answers `{ok: false, code}`.
   */
  async unlockVirtual(cloudUrl: string, lockId: string): Promise<UnlockOutcome> {
    if (this.accessToken === undefined) throw new PhoneError("this phone is not registered");
    const key = this.keyFor(lockId);
    const client = new AppApiClient(cloudUrl, this.fetchImpl);
    const id = this.nextId();
    const nonce = await client.virtualChallenge(this.accessToken, lockId);
    const proof = signUnlockProof({ lockId, nonce, token: key.token, deviceSecretKey: this.deviceSecretKey });
    const outcome: UnlockOutcome = { id, ok: true };
    if (key.keyId !== undefined) outcome.keyId = key.keyId;
    try {
      await client.virtualUnlock(this.accessToken, lockId, { token: key.token, proof, nonce });
      return outcome;
    } catch (e) {
      if (e instanceof AppApiError && e.status === 403) {
        return { ...outcome, ok: false, code: e.code as UnlockOutcome["code"], message: e.message };
      }
      throw e;
    }
  }

  /** One BLE stack per phone per radio, as a handset has. */
  private async nobleOn(radio: VirtualRadio): Promise<Noble> {
    let stack = this.nobles.get(radio);
    if (stack === undefined) {
      const bindings = radio.bindings();
      stack = { noble: (await loadNobleWithBindings())(bindings), bindings };
      this.nobles.set(radio, stack);
    }
    return stack.noble;
  }

  /** Releases the phone's radios. */
  close(): void {
    for (const { noble, bindings } of this.nobles.values()) {
      noble.removeAllListeners();
      bindings.stop();
    }
    this.nobles.clear();
  }

  private nextId(): string {
    return `phone-${toHex(this.random(4))}-${++this.counter}`;
  }
}
