import type {
  AccessTokenRecord,
  Address,
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
  KeyStatus,
  LockHolderRecord,
  LockRecord,
  Page,
  PageRequest,
  TelemetryRecord,
  VendorConnectionRecord,
  VerificationRecord,
  WebhookRecord,
} from "./records.js";

/**
 * The one storage interface the cloud talks to. Every call runs inside `transaction`, so a multi-row write is all or
 * nothing, and a PostgreSQL driver can implement the same interface (one client per transaction) without touching
 * routes. All SQL lives under store/. Inside a transaction callback do store work only: no network, no timers.
 */
export interface Store {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
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
}

export interface IntegratorRepo {
  insert(integrator: IntegratorRecord, client: ClientRecord): Promise<void>;
  get(id: string): Promise<IntegratorRecord | undefined>;
  getClient(clientId: string): Promise<ClientRecord | undefined>;
}

export interface AccessTokenRepo {
  insert(token: AccessTokenRecord): Promise<void>;
  get(tokenHash: string): Promise<AccessTokenRecord | undefined>;
  deleteExpired(now: number): Promise<number>;
  deleteForSubject(kind: AccessTokenRecord["kind"], subjectId: string): Promise<void>;
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
}

export interface VendorConnectionRepo {
  insert(vc: VendorConnectionRecord): Promise<void>;
  get(id: string): Promise<VendorConnectionRecord | undefined>;
  list(lockHolderId: string, page: PageRequest): Promise<Page<VendorConnectionRecord>>;
  /** Live (not deleted) connections of one integrator with this vendor and username: candidates for a 409. */
  liveWithUsername(integratorId: string, vendor: string, username: string): Promise<VendorConnectionRecord[]>;
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
}

export interface KeyRepo {
  insert(key: KeyRecord): Promise<void>;
  get(id: string): Promise<KeyRecord | undefined>;
  getByCti(cti: string): Promise<KeyRecord | undefined>;
  list(lockHolderId: string, page: PageRequest): Promise<Page<KeyRecord>>;
  /** Keys of this phone number that are neither revoked, failed nor still being created and not past `end`. */
  usableForUser(userId: string, now: number): Promise<KeyRecord[]>;
  /** Keys of a lock still in force (not revoked, not failed), for offboarding. */
  liveForLock(lockId: string): Promise<KeyRecord[]>;
  revokedCtisForLock(lockId: string): Promise<string[]>;
  setStatus(id: string, status: KeyStatus, fields: { error?: string | null; revokedAt?: number | null }): Promise<void>;
}

export interface EventPageRequest extends PageRequest {
  /** Only events at or after this lock time (unix seconds). */
  sinceS: number;
  /** Only these event types. */
  types: readonly string[];
}

export interface EventRepo {
  /** Stores an event unless its id is known; answers whether it was new. */
  insertIfNew(event: EventRecord): Promise<boolean>;
  get(id: string): Promise<EventRecord | undefined>;
  /** Newest first. */
  listForLockHolder(lockHolderId: string, page: EventPageRequest): Promise<Page<EventRecord>>;
}

export interface TelemetryRepo {
  insertIfNew(telemetry: TelemetryRecord): Promise<boolean>;
}

export interface WebhookRepo {
  insert(webhook: WebhookRecord): Promise<void>;
  get(id: string): Promise<WebhookRecord | undefined>;
  list(lockHolderId: string, page: PageRequest): Promise<Page<WebhookRecord>>;
  liveForLockHolder(lockHolderId: string): Promise<WebhookRecord[]>;
  markDeleted(id: string, at: number): Promise<void>;
}

export interface DeliveryRepo {
  insert(delivery: DeliveryRecord): Promise<void>;
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
}

export interface JobRepo {
  insert(job: JobRecord): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Claims one pending job, or a running one whose lease ran out (its worker died): restart resumes it. */
  claimNext(now: number, leaseMs: number): Promise<JobRecord | undefined>;
  /** Records item progress and renews the lease. */
  progress(id: string, done: number, results: JobResult[], at: number, leaseUntil: number): Promise<void>;
  finish(id: string, status: JobStatus, at: number): Promise<void>;
}

export interface ChangeRepo {
  append(
    kind: ChangeKind,
    lockHolderId: string,
    vendorConnectionId: string | null,
    payload: Record<string, unknown>,
    at: number,
  ): Promise<number>;
  /** Changes for one bridge after `afterSeq`: its connections' changes and its lock holder's issuer keys. */
  forBridge(bridgeId: string, lockHolderId: string, afterSeq: number, limit: number): Promise<ChangeRecord[]>;
}

export interface VerificationRepo {
  insert(verification: VerificationRecord): Promise<void>;
  get(id: string): Promise<VerificationRecord | undefined>;
  countSince(phoneNumber: string, since: number): Promise<number>;
  voidPending(phoneNumber: string): Promise<void>;
  recordAttempt(id: string): Promise<number>;
  setStatus(id: string, status: VerificationRecord["status"]): Promise<void>;
}

export interface DeviceRepo {
  insert(device: DeviceRecord): Promise<void>;
  get(id: string): Promise<DeviceRecord | undefined>;
  markDeleted(id: string, at: number): Promise<void>;
}
