import type {
  AccessTokenRecord,
  Address,
  AuthorityRecord,
  BatteryRecord,
  BridgeRecord,
  ChangeKind,
  ChangeRecord,
  ClientRecord,
  DeliveryRecord,
  DeviceRecord,
  EventRecord,
  IntegratorRecord,
  IssuerKeyRecord,
  JobRecord,
  JobResult,
  JobStatus,
  KeyRecord,
  KeyStateTracking,
  KeyStatus,
  LockClaimRecord,
  LockHolderRecord,
  LockRecord,
  LockReportRecord,
  Page,
  PageRequest,
  RemoteActionRecord,
  RemoteActionStatus,
  RevokedKeyRecord,
  SecretHashes,
  SignedStateRecord,
  TelemetryRecord,
  VendorConnectionRecord,
  VerificationRecord,
  WebhookRecord,
} from "./records.js";

/**
 * The one storage interface the cloud talks to, with two drivers: SQLite (sqlite/, one process) and PostgreSQL
 * (postgres/, any number of cloud processes on one database). Every call runs inside `transaction`, so a multi-row
 * write is all or nothing, and transactions are serializable on both: SQLite runs them one at a time, PostgreSQL runs
 * them concurrently at SERIALIZABLE and runs `work` again when the database reports a conflict. So `work` does store
 * work only (no network, no timers, no changes to state outside it that a second run would repeat), and returns
 * what it found. All SQL lives under store/: the repositories once (repositories/, over sql.ts), each driver only
 * its connection and the statements whose concurrency it handles its own way.
 */
export interface Store {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Calls `listener` when another cloud process may have appended to the change feed (PostgreSQL LISTEN/NOTIFY, with a
   * slow fallback poll), so long-polling bridges connected here hear of it. SQLite has no other processes: never called.
   * Answers a function that unsubscribes.
   */
  watchChanges(listener: () => void): () => void;
  close(): Promise<void>;
}

export interface Tx {
  integrators: IntegratorRepo;
  tokens: AccessTokenRepo;
  lockHolders: LockHolderRepo;
  issuerKeys: IssuerKeyRepo;
  bridges: BridgeRepo;
  vendorConnections: VendorConnectionRepo;
  locks: LockRepo;
  keys: KeyRepo;
  events: EventRepo;
  telemetry: TelemetryRepo;
  webhooks: WebhookRepo;
  deliveries: DeliveryRepo;
  jobs: JobRepo;
  changes: ChangeRepo;
  verifications: VerificationRepo;
  devices: DeviceRepo;
  nonces: NonceRepo;
  meta: MetaRepo;
  otpThrottle: OtpThrottleRepo;
  authorities: AuthorityRepo;
  lockClaims: LockClaimRepo;
  lockReports: LockReportRepo;
  remoteActions: RemoteActionRepo;
}

/**
 * Unlock challenges of cloud-hosted (virtual) locks. They live in the database, not in memory, so a nonce handed out
 * by one cloud process is honoured by any other, and consuming one is part of the unlock's transaction.
 */
export interface NonceRepo {
  /** Records a nonce (hex) issued for a lock; keeps only the `keep` newest of that lock. */
  issue(lockId: string, nonce: string, at: number, keep: number): Promise<void>;
  /** Removes the nonce and answers when it was issued; undefined when it is unknown (or another lock's). */
  consume(lockId: string, nonce: string): Promise<number | undefined>;
  /** Forgets nonces issued before `at` (they can only be expired). */
  deleteIssuedBefore(at: number): Promise<number>;
}

/** Facts about the database itself (e.g. the master key check), by name. */
export interface MetaRepo {
  get(name: string): Promise<string | undefined>;
  /** Stores `value` unless the name is taken; answers whether it was stored. */
  insertIfAbsent(name: string, value: string): Promise<boolean>;
}

export interface IntegratorRepo {
  insert(integrator: IntegratorRecord, client: ClientRecord): Promise<void>;
  get(id: string): Promise<IntegratorRecord | undefined>;
  getClient(clientId: string): Promise<ClientRecord | undefined>;
  /** Replaces the client's secret hashes (a rotation, or the previous secret revoked). */
  setClientSecrets(clientId: string, secrets: SecretHashes): Promise<void>;
}

export interface AccessTokenRepo {
  insert(token: AccessTokenRecord): Promise<void>;
  get(tokenHash: string): Promise<AccessTokenRecord | undefined>;
  deleteExpired(now: number): Promise<number>;
  deleteForSubject(kind: AccessTokenRecord["kind"], subjectId: string): Promise<void>;
  /** Ends every token issued for the secret with this hash (it was revoked); answers how many. */
  deleteIssuedUnder(secretHash: string): Promise<number>;
}

export interface LockHolderRepo {
  insert(lockHolder: LockHolderRecord): Promise<void>;
  get(id: string): Promise<LockHolderRecord | undefined>;
  list(integratorId: string, page: PageRequest): Promise<Page<LockHolderRecord>>;
  update(id: string, patch: Partial<Pick<LockHolderRecord, "name" | "countryIso">>): Promise<void>;
}

export interface IssuerKeyRepo {
  insert(key: IssuerKeyRecord): Promise<void>;
  /** The key that signs now: the newest one not rotated out. */
  active(lockHolderId: string): Promise<IssuerKeyRecord | undefined>;
  listLive(lockHolderIds: string[]): Promise<IssuerKeyRecord[]>;
  list(lockHolderId: string): Promise<IssuerKeyRecord[]>;
  markRotated(kid: string, at: number): Promise<void>;
  raiseMaxTokenExp(kid: string, expS: number): Promise<void>;
  /** Rotated keys whose tokens have all expired by `nowS` (minus leeway), not yet retired. */
  retirable(nowS: number, leewayS: number): Promise<IssuerKeyRecord[]>;
  markRetired(kid: string, at: number): Promise<void>;
}

export interface BridgeRepo {
  insert(bridge: BridgeRecord): Promise<void>;
  get(id: string): Promise<BridgeRecord | undefined>;
  list(lockHolderId: string, page: PageRequest): Promise<Page<BridgeRecord>>;
  heartbeat(id: string, at: number, version: string, locksOnline: number | null): Promise<void>;
  /** The bridge was heard at `at` (a report of its own word): its lastSeen, nothing else. */
  seen(id: string, at: number): Promise<void>;
  /** Replaces the bridge's secret hashes (a rotation, or the previous secret revoked). */
  setSecrets(id: string, secrets: SecretHashes): Promise<void>;
}

export interface VendorConnectionRepo {
  insert(vc: VendorConnectionRecord): Promise<void>;
  get(id: string): Promise<VendorConnectionRecord | undefined>;
  list(lockHolderId: string, page: PageRequest): Promise<Page<VendorConnectionRecord>>;
  /** Live (not deleted) connections of one integrator with this vendor and username: candidates for a 409. */
  liveWithUsername(integratorId: string, vendor: string, username: string): Promise<VendorConnectionRecord[]>;
  getMany(ids: readonly string[]): Promise<VendorConnectionRecord[]>;
  update(
    id: string,
    patch: Partial<Pick<VendorConnectionRecord, "state" | "reason" | "credentialSalt" | "credentialDigest">>,
    at: number,
  ): Promise<void>;
  markDeleted(id: string, at: number): Promise<void>;
  /** Ids of the connections a bridge serves, deleted ones included (so it hears of the deletion). */
  idsForBridge(bridgeId: string): Promise<string[]>;
}

export type LockSort = "name" | "created";

export interface LockRepo {
  insert(lock: LockRecord): Promise<void>;
  get(id: string): Promise<LockRecord | undefined>;
  getMany(ids: readonly string[]): Promise<LockRecord[]>;
  list(lockHolderId: string, page: PageRequest, sort: LockSort, order: "asc" | "desc"): Promise<Page<LockRecord>>;
  listForConnection(vendorConnectionId: string): Promise<LockRecord[]>;
  update(
    id: string,
    patch: { name?: string; imageUrl?: string | null; address?: Address | null; timezone?: string | null },
  ): Promise<void>;
  /** Brings a removed lock back (or moves it) under a connection. */
  reassign(
    id: string,
    lockHolderId: string,
    vendorConnectionId: string,
    vendor: LockRecord["vendor"],
    name: string,
    at: number,
  ): Promise<void>;
  markRemoved(id: string, at: number): Promise<void>;
  setBattery(id: string, battery: BatteryRecord): Promise<void>;
  setPresence(id: string, online: boolean, tsS: number): Promise<void>;
  nextEventSeq(id: string): Promise<number>;
  /**
   * Live locks shown online whose bridge was last heard before `cutoff` (or never), with when it was: they go offline
   * (domain/lock-presence.ts). At most `limit`.
   */
  reportedOnlineOfSilentBridges(
    cutoff: number,
    limit: number,
  ): Promise<{ lock: LockRecord; lastSeenAt: number | null }[]>;
  /** The live locks of `bridgeId`'s connections marked silent. */
  silentOfBridge(bridgeId: string): Promise<LockRecord[]>;
  /**
   * Marks the lock silent since `since` if its bridge is still unheard since `cutoff` as the statement runs (a
   * heartbeat may have committed since the lock was read); answers whether it did.
   */
  markBridgeSilent(id: string, since: number, cutoff: number): Promise<boolean>;
  clearBridgeSilent(id: string): Promise<void>;
  /**
   * Records `online` as announced at `at` if the last announcement is still `expectedAt` (another process may have
   * announced it first); answers whether it wrote.
   */
  setPresenceAnnounced(id: string, online: boolean, at: number, expectedAt: number | null): Promise<boolean>;
  setPresenceDue(id: string, at: number | null): Promise<void>;
  /** Locks whose held-back presence change is due by `now`, at most `limit`. */
  presenceDue(now: number, limit: number): Promise<LockRecord[]>;
}

export interface KeyRepo {
  insert(key: KeyRecord): Promise<void>;
  /** Many keys in one statement where the driver can (a batch job's keys). */
  insertMany(keys: readonly KeyRecord[]): Promise<void>;
  get(id: string): Promise<KeyRecord | undefined>;
  getMany(ids: readonly string[]): Promise<KeyRecord[]>;
  getByCti(cti: string): Promise<KeyRecord | undefined>;
  getManyByCti(ctis: readonly string[]): Promise<KeyRecord[]>;
  /** By id; only those matching `filter` when given (store/filters.ts). */
  list(lockHolderId: string, page: PageRequest, filter?: KeyFilter): Promise<Page<KeyRecord>>;
  /** Keys of this phone number that are neither revoked, failed nor still being created and not past `end`. */
  usableForUser(userId: string, now: number): Promise<KeyRecord[]>;
  /** Keys of a lock still in force (not revoked, not failed), for offboarding. */
  liveForLock(lockId: string): Promise<KeyRecord[]>;
  /**
   * The lock's revoked keys of one lock holder with when each was revoked, oldest revocation first (the signed state's
   * `revoked` for that holder's claim); a live key an edit narrowed is listed with its `before`.
   */
  revokedForLock(lockId: string, lockHolderId: string): Promise<RevokedKeyRecord[]>;
  /** Stores an edit (domain/keys.ts editKey): the terms it may change and when, all at once. */
  edit(id: string, fields: EditedKeyFields): Promise<void>;
  setStatus(id: string, status: KeyStatus, fields: { error?: string | null; revokedAt?: number | null }): Promise<void>;
  /** Records that a token of this key with `exp` = `expS` went out (keeps the latest). */
  raiseMaxTokenExp(id: string, expS: number): Promise<void>;
  /** `creating` → `created` for these keys (a batch job's chunk); keys in another status are left alone. */
  markCreated(ids: readonly string[]): Promise<void>;
  /** Created keys whose tracked state changes at or before `now` (key.state_changed), with the state last announced. */
  dueStateChanges(now: number, limit: number): Promise<{ key: KeyRecord; notified: string }[]>;
  /** Sets a key's state tracking; with `expected`, only if the state last announced is still that (answers whether). */
  setStateTracking(id: string, tracking: KeyStateTracking, expected?: string): Promise<boolean>;
}

/** What a key edit stores (KeyRepo.edit). */
export type EditedKeyFields = Pick<
  KeyRecord,
  "startAt" | "endAt" | "recurrence" | "metadata" | "userName" | "editedAt" | "revokeBefore" | "revokeUntilS"
>;

/** A key's state as the API shows it (domain/keys.ts keyState): stored status and, for `created`, the clock. */
export type KeyStateName = "creating" | "scheduled" | "active" | "expired" | "error" | "revoked";

export interface KeyFilter {
  lockId?: string | undefined;
  userId?: string | undefined;
  /** Only keys in this state at `now` (ms). */
  state?: { name: KeyStateName; now: number } | undefined;
}

export interface EventPageRequest extends PageRequest {
  /** Only events at or after this lock time (unix seconds). */
  sinceS: number;
  /** Only events before this lock time (unix seconds), when given. */
  untilS?: number | undefined;
  /** Only these event types. */
  types: readonly string[];
  /** Only events of this lock, this key, this key holder (E.164), when given. */
  lockId?: string | undefined;
  keyId?: string | undefined;
  userId?: string | undefined;
}

export interface EventRepo {
  /** Stores an event unless its id is known; answers whether it was new. */
  insertIfNew(event: EventRecord): Promise<boolean>;
  /** Stores each event whose id is not known yet (nor earlier in the list); answers the ids stored. */
  insertManyIfNew(events: readonly EventRecord[]): Promise<Set<string>>;
  get(id: string): Promise<EventRecord | undefined>;
  /** Newest first. */
  listForLockHolder(lockHolderId: string, page: EventPageRequest): Promise<Page<EventRecord>>;
}

export interface TelemetryRepo {
  insertIfNew(telemetry: TelemetryRecord): Promise<boolean>;
  /** As EventRepo.insertManyIfNew. */
  insertManyIfNew(telemetry: readonly TelemetryRecord[]): Promise<Set<string>>;
}

export interface WebhookRepo {
  insert(webhook: WebhookRecord): Promise<void>;
  get(id: string): Promise<WebhookRecord | undefined>;
  list(lockHolderId: string, page: PageRequest): Promise<Page<WebhookRecord>>;
  liveForLockHolder(lockHolderId: string): Promise<WebhookRecord[]>;
  /** Sets the event types (null: every type) and the pause of a live webhook. */
  update(id: string, fields: Pick<WebhookRecord, "eventTypes" | "pausedAt">): Promise<void>;
  markDeleted(id: string, at: number): Promise<void>;
}

export interface DeliveryRepo {
  insert(delivery: DeliveryRecord): Promise<void>;
  insertMany(deliveries: readonly DeliveryRecord[]): Promise<void>;
  /**
   * Claims up to `limit` due deliveries for `leaseMs` (a claimed row is skipped by other workers until the lease
   * ends: the shape of `FOR UPDATE SKIP LOCKED`). A worker that dies leaves rows that become due again.
   */
  claimDue(now: number, limit: number, leaseMs: number): Promise<DeliveryRecord[]>;
  markDelivered(id: string, at: number): Promise<void>;
  scheduleRetry(id: string, attempts: number, nextAttemptAt: number, error: string): Promise<void>;
  markFailed(id: string, attempts: number, error: string): Promise<void>;
  nextDueAt(): Promise<number | undefined>;
  /** The newest 100, newest first. */
  listForWebhook(webhookId: string): Promise<DeliveryRecord[]>;
  get(id: string): Promise<DeliveryRecord | undefined>;
  /** Lets go of a claimed delivery untried (its webhook was paused meanwhile): due again as it was. */
  release(id: string): Promise<void>;
  /**
   * Queues delivered or failed deliveries again, due at `at`, attempts counted afresh; same id, so the same
   * webhook-id header (docs/webhooks.md "Replay"). A pending one is left alone. Answers how many were queued.
   */
  replay(ids: readonly string[], at: number): Promise<number>;
  /** The webhook's failed deliveries created at or after `since`, oldest first. */
  failedSince(webhookId: string, since: number, limit: number): Promise<string[]>;
}

export interface JobRepo {
  insert(job: JobRecord): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Claims one pending job, or a running one whose lease ran out (its worker died): restart resumes it. */
  claimNext(now: number, leaseMs: number): Promise<JobRecord | undefined>;
  /**
   * Records progress from `fromDone` to `done` items and renews the lease, only if the job is still `running` at
   * `fromDone`: answers false when another worker took the job over (this worker's lease ran out), and the caller
   * must then roll back and let go of it.
   */
  progress(
    id: string,
    fromDone: number,
    done: number,
    results: JobResult[],
    at: number,
    leaseUntil: number,
  ): Promise<boolean>;
  /**
   * Lets go of a `running` job at `fromDone` items (its lease cleared, so claimNext hands it out again at once), when its
   * worker cannot go on for a transient reason; answers false when it no longer stands there (another worker took it).
   */
  release(id: string, fromDone: number, at: number): Promise<boolean>;
  /** Ends a `running` job; answers whether this call ended it (once only, so its webhook is queued once). */
  finish(id: string, status: JobStatus, at: number): Promise<boolean>;
}

export interface NewChange {
  kind: ChangeKind;
  lockHolderId: string;
  vendorConnectionId: string | null;
  payload: Record<string, unknown>;
  at: number;
}

/**
 * The change feed. `seq` grows in commit order, not just in insert order: once a reader has seen seq n, no change
 * below n can appear later (bridges resume from the last seq they saw, so a late-committing lower seq would be lost).
 */
export interface ChangeRepo {
  append(
    kind: ChangeKind,
    lockHolderId: string,
    vendorConnectionId: string | null,
    payload: Record<string, unknown>,
    at: number,
  ): Promise<number>;
  /** Appends in order; answers the seqs. */
  appendMany(changes: readonly NewChange[]): Promise<number[]>;
  /** Changes for one bridge after `afterSeq`: its connections' changes and its lock holder's issuer keys. */
  forBridge(bridgeId: string, lockHolderId: string, afterSeq: number, limit: number): Promise<ChangeRecord[]>;
}

export interface VerificationRepo {
  insert(verification: VerificationRecord): Promise<void>;
  get(id: string): Promise<VerificationRecord | undefined>;
  countSince(phoneNumber: string, since: number): Promise<number>;
  recordAttempt(id: string): Promise<number>;
  setStatus(id: string, status: VerificationRecord["status"]): Promise<void>;
}

/**
 * What the one-time-code limits remember (domain/otp-limits.ts): counted events per subject (a client address) and
 * kind ("code" requested, "wrong" code given), and lockouts per subject (a phone number) that grow with each strike.
 */
export interface OtpThrottleRepo {
  record(subject: string, kind: OtpEventKind, at: number): Promise<void>;
  /** Events of `subject` and `kind` after `since` (an event exactly a window old no longer counts), and the oldest. */
  window(subject: string, kind: OtpEventKind, since: number): Promise<{ count: number; oldest: number | undefined }>;
  lockout(subject: string): Promise<OtpLockout | undefined>;
  setLockout(subject: string, lockout: OtpLockout): Promise<void>;
  clearLockout(subject: string): Promise<void>;
  /** Drops events before `at` (housekeeping: no limit looks back that far). */
  deleteEventsBefore(at: number): Promise<void>;
}

export type OtpEventKind = "code" | "wrong";

export interface OtpLockout {
  /** Lockouts so far (since the last successful verification): each one lasts twice as long as the one before. */
  strikes: number;
  lockedUntil: number;
}

export interface DeviceRepo {
  insert(device: DeviceRecord): Promise<void>;
  get(id: string): Promise<DeviceRecord | undefined>;
  markDeleted(id: string, at: number): Promise<void>;
}

/** Lock holders' authorities (domain/authority.ts). */
export interface AuthorityRepo {
  insert(authority: AuthorityRecord): Promise<void>;
  /** The authority that signs now: the one not superseded. */
  current(lockHolderId: string): Promise<AuthorityRecord | undefined>;
  markSuperseded(publicKey: string, at: number): Promise<void>;
}

/** Claimed locks and their signed states (domain/claims.ts, domain/lock-state.ts). */
/**
 * Claims, one per lock holder and lock id (docs/trust.md "Cloud"): several holders may hold a pending claim of one id
 * until the lock's own report confirms one of them (domain/claims.ts).
 */
export interface LockClaimRepo {
  insert(claim: LockClaimRecord): Promise<void>;
  /** The claim of `lockId` by `lockHolderId`. */
  get(lockId: string, lockHolderId: string): Promise<LockClaimRecord | undefined>;
  /** Every claim of `lockId`, whichever lock holder holds it (ordered by lock holder). */
  listForLock(lockId: string): Promise<LockClaimRecord[]>;
  /** Every claim of these lock ids, whichever lock holder holds it: callers keep the holder's own. */
  getMany(lockIds: readonly string[]): Promise<LockClaimRecord[]>;
  listForLockHolder(lockHolderId: string): Promise<LockClaimRecord[]>;
  /**
   * A new setup code for the same holder (a factory reset made new keys): forgets the keys the old code named, and
   * the cached state's digest, so the next fetch signs afresh with a pin tag under this code's secret (`lastV` stays).
   * `unproved`: the code names another secret or other keys than the one the lock proved, so the claim is pending
   * again (confirmation and the v signed for it forgotten).
   */
  reclaim(
    lockId: string,
    lockHolderId: string,
    claimSecretSealed: string,
    fingerprint: string | null,
    name: string | null,
    unproved: boolean,
  ): Promise<void>;
  setPublicKeys(lockId: string, lockHolderId: string, identityKey: string, agreementKey: string): Promise<void>;
  setReportedAuthority(lockId: string, lockHolderId: string, publicKey: string): Promise<void>;
  setMaxStale(lockId: string, lockHolderId: string, maxStaleS: number | null): Promise<void>;
  setMinIat(lockId: string, lockHolderId: string, minIat: number): Promise<void>;
  /**
   * Caches the latest signed state and raises `lastV` to its v; when its authority differs from the one that signed the
   * state before, that v is the new `authorityFromV`. `signedVs` replaces the claim's list of v signed while pending.
   */
  saveState(lockId: string, lockHolderId: string, state: SignedStateRecord, signedVs: readonly number[]): Promise<void>;
  /** The highest v signed for `lockId` under any lock holder's claim; 0 when none was. */
  lastV(lockId: string): Promise<number>;
  /** Marks the claim confirmed at `at` and forgets the v signed for it while pending. */
  confirm(lockId: string, lockHolderId: string, at: number): Promise<void>;
  /** Drops the claim. */
  delete(lockId: string, lockHolderId: string): Promise<void>;
}

/** Per-lock state of authenticated reports (domain/reports.ts). */
export interface LockReportRepo {
  get(lockId: string): Promise<LockReportRecord | undefined>;
  /** The records of these lock ids that have one, in no particular order. */
  getMany(lockIds: readonly string[]): Promise<LockReportRecord[]>;
  /**
   * As getMany, for a transaction that then puts them (an upload): without a predicate lock on PostgreSQL, so uploads
   * for other locks do not abort it (Sql.rowsForUpdate). A lock without a record may answer one equal to an empty
   * record (no counter, ack 0, nothing pending or refused), as no record means.
   */
  getManyForUpdate(lockIds: readonly string[]): Promise<LockReportRecord[]>;
  /** Inserts or replaces the whole record. */
  put(record: LockReportRecord): Promise<void>;
  /** Forgets the lock's report state (new keys pinned: the counter starts again, docs/reports.md "Counter"). */
  reset(lockId: string): Promise<void>;
}

/** Remote actions and each lock's command counter (domain/actions.ts). */
export interface RemoteActionRepo {
  insert(action: RemoteActionRecord): Promise<void>;
  get(id: string): Promise<RemoteActionRecord | undefined>;
  /** A lock's actions, oldest first (ids sort by creation). */
  listForLock(lockId: string, page: PageRequest): Promise<Page<RemoteActionRecord>>;
  /** `pending` → `sent` with its command; answers false when the action was not pending. */
  markSent(id: string, command: { nonce: string; counter: number; command: string; binding: string }): Promise<boolean>;
  /** Ends an action: `succeeded` (with the event), `failed` (with the bridge's error) or `expired`. */
  close(
    id: string,
    status: Extract<RemoteActionStatus, "succeeded" | "failed" | "expired">,
    fields: { completedAt: number; eventId?: string; errorCode?: string; errorMessage?: string | null },
  ): Promise<void>;
  /** The lock's action whose command's nonce hashes to `binding` (hex), if any. */
  findByBinding(lockId: string, binding: string): Promise<RemoteActionRecord | undefined>;
  /** Writes `expired` on every open action whose time ran out by `now`; answers how many. */
  expireDue(now: number): Promise<number>;
  /**
   * The lock's next command counter, `max(last + 1, atLeast)`, stored before it is answered (with the one before it,
   * 0 for the first): strictly increasing per lock.
   */
  nextCounter(lockId: string, atLeast: number): Promise<{ previous: number; next: number }>;
}
