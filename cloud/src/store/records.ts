import type { Recurrence } from "@latchkey/protocol/contracts";
/**
 * What the store keeps, as plain objects. Times are milliseconds since the epoch unless named `…S` (unix seconds,
 * as on the wire to locks). Routes turn these into API shapes; nothing here is sent as is.
 */

import type { ActionKind, ActionStatus, VendorConnectionState } from "@latchkey/protocol/contracts";

export interface IntegratorRecord {
  id: string;
  name: string;
  createdAt: number;
}

/**
 * A client or bridge secret, stored only as hashes: the current one, and the one before it while its overlap after a
 * rotation lasts (review 12.7, cloud/README.md "Rotating secrets").
 */
export interface SecretHashes {
  secretHash: string;
  previousSecretHash: string | null;
  /** When the previous secret stops working; null when there is none. */
  previousSecretExpiresAt: number | null;
}

export interface ClientRecord extends SecretHashes {
  clientId: string;
  integratorId: string;
  createdAt: number;
}

export type PrincipalKind = "integrator" | "bridge" | "app";

export interface AccessTokenRecord {
  tokenHash: string;
  kind: PrincipalKind;
  /** Integrator id, bridge id or device id. */
  subjectId: string;
  integratorId: string | null;
  /** Set for `lockHolder.admin:<id>` tokens and bridge tokens. */
  lockHolderId: string | null;
  scope: string;
  expiresAt: number;
  /** The hash of the client or bridge secret the token was issued for (null for app tokens): revoking it ends them. */
  issuedUnder: string | null;
}

export interface LockHolderRecord {
  id: string;
  integratorId: string;
  name: string;
  countryIso: string | null;
  organizationId: string | null;
  organizationIdSuffix: string | null;
  createdAt: number;
}

export interface IssuerKeyRecord {
  kid: string;
  lockHolderId: string;
  publicKey: string;
  secretSealed: string;
  createdAt: number;
  /** When a newer key took over signing; null while this key is the one that signs. */
  rotatedAt: number | null;
  /** The latest `exp` (unix seconds) of any token this key signed: it is retired only after that has passed. */
  maxTokenExpS: number;
  retiredAt: number | null;
}

export interface BridgeRecord extends SecretHashes {
  id: string;
  lockHolderId: string;
  name: string | null;
  createdAt: number;
  lastSeenAt: number | null;
  version: string | null;
  locksOnline: number | null;
}

export type Vendor = "virtual" | "sim" | "ble";
// The states are the wire contract's (the API shows them as stored).
export type { VendorConnectionState };

export interface VendorConnectionRecord {
  id: string;
  lockHolderId: string;
  vendor: Vendor;
  username: string | null;
  credentialSalt: string | null;
  credentialDigest: string | null;
  bridgeId: string | null;
  state: VendorConnectionState;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

export interface Address {
  street?: string;
  postalCode?: string;
  city?: string;
  countryIso?: string;
  floor?: string;
  visitorInstructions?: string;
}

export interface BatteryRecord {
  level: number;
  mv: number;
  state: "ok" | "low" | "critical";
  /** The lock's own timestamp of the reading (unix seconds): an older reading never overwrites a newer one. */
  tsS: number;
  updatedAt: number;
}

export interface LockRecord {
  id: string;
  lockHolderId: string;
  vendorConnectionId: string;
  vendor: Vendor;
  name: string;
  imageUrl: string | null;
  address: Address | null;
  timezone: string | null;
  createdAt: number;
  removedAt: number | null;
  battery: BatteryRecord | null;
  /** The presence the bridge last reported (its word); shown only while the bridge is heard (domain/lock-presence.ts). */
  online: boolean;
  presenceTsS: number | null;
  /** When the lock's bridge was last heard, once it has been silent too long; null while it is heard. */
  bridgeSilentSince: number | null;
  /** The presence last announced by `lock.online` / `lock.offline`, and when (ms); null before the first. */
  presenceAnnounced: boolean;
  presenceAnnouncedAt: number | null;
  /** When a change held back by the flap limit is to be announced, if one is. */
  presenceDueAt: number | null;
  /** Last event seq a cloud-hosted (virtual) lock emitted. */
  eventSeq: number;
}

/** Stored status; the API state (scheduled/active/expired) is derived from it and the clock. */
export type KeyStatus = "creating" | "created" | "error" | "revoked";

export interface KeyRecord {
  id: string;
  lockHolderId: string;
  lockId: string;
  /** 16-byte token key id, lowercase hex: shared by every token minted for this key. */
  cti: string;
  userId: string;
  /** The key holder's name as the integrator gave it (Unloc's toUser name); shown on the key's events. */
  userName: string | null;
  startAt: number;
  endAt: number | null;
  status: KeyStatus;
  error: string | null;
  revokedAt: number | null;
  /**
   * The latest `exp` (unix seconds) of any token minted for this key: its revocation must outlive it. Null when none
   * is recorded (never minted, or minted before the cloud recorded it).
   */
  maxTokenExpS: number | null;
  metadata: Record<string, unknown> | null;
  /** Weekly windows in the lock's timezone (the API's shape); minted into every token as its schedule. */
  recurrence: Recurrence | null;
  jobId: string | null;
  createdAt: number;
  /** When the key was last edited (PATCH), unix seconds; null if never. */
  editedAt: number | null;
  /**
   * Tokens of this key with an `iat` below this (unix seconds) are refused at its lock: set by an edit that narrowed
   * what the lock enforces (start, end, recurrence), so tokens minted before it cannot open beyond the new terms.
   */
  revokeBefore: number | null;
  /** The latest `exp` (unix seconds) of the tokens `revokeBefore` refuses: past it, their entry is no longer needed. */
  revokeUntilS: number | null;
}

/** A key's state as last announced (key.state_changed webhooks) and when it next changes; both null: untracked. */
export interface KeyStateTracking {
  notified: "scheduled" | "active" | "expired" | null;
  nextAt: number | null;
}

/**
 * A new key's fields that nothing has set yet unless given: no name, error, revocation, token minted, options, job,
 * edit. The one place they are named, for the domain's new keys, the bench's seeded ones and the tests' fixtures.
 */
type OptionalKeyField =
  | "userName"
  | "error"
  | "revokedAt"
  | "maxTokenExpS"
  | "metadata"
  | "recurrence"
  | "jobId"
  | "editedAt"
  | "revokeBefore"
  | "revokeUntilS";

export type NewKeyFields = Omit<KeyRecord, OptionalKeyField> & Partial<Pick<KeyRecord, OptionalKeyField>>;

/**
 * A key record, null where a field is not given. One literal naming every field, not `{ ...defaults, id, … }`: V8 (Node
 * 20) adds each property after a spread on a slow path, ~1 µs apiece: 25 µs a record, 1.8 µs now (scripts/README.md,
 * issue 17 seventh pass).
 */
export function keyRecordOf(f: NewKeyFields): KeyRecord {
  return {
    id: f.id,
    lockHolderId: f.lockHolderId,
    lockId: f.lockId,
    cti: f.cti,
    userId: f.userId,
    userName: f.userName ?? null,
    startAt: f.startAt,
    endAt: f.endAt,
    status: f.status,
    error: f.error ?? null,
    revokedAt: f.revokedAt ?? null,
    maxTokenExpS: f.maxTokenExpS ?? null,
    metadata: f.metadata ?? null,
    recurrence: f.recurrence ?? null,
    jobId: f.jobId ?? null,
    createdAt: f.createdAt,
    editedAt: f.editedAt ?? null,
    revokeBefore: f.revokeBefore ?? null,
    revokeUntilS: f.revokeUntilS ?? null,
  };
}

/**
 * What a key's state is at `at` and when it next changes (docs/webhooks.md `key.state_changed`): scheduled until its
 * start, active until its end, then expired for good. Keys that are not (being) created are not tracked.
 */
export function keyStateTracking(k: Pick<KeyRecord, "status" | "startAt" | "endAt">, at: number): KeyStateTracking {
  if (k.status !== "created" && k.status !== "creating") return { notified: null, nextAt: null };
  if (at < k.startAt) return { notified: "scheduled", nextAt: k.startAt };
  if (k.endAt !== null && at >= k.endAt) return { notified: "expired", nextAt: null };
  return { notified: "active", nextAt: k.endAt };
}

export interface EventRecord {
  id: string;
  lockHolderId: string;
  lockId: string;
  seq: number;
  tsS: number;
  type: string;
  cti: string | null;
  keyId: string | null;
  userId: string | null;
  code: string | null;
  dropped: number | null;
  v: number | null;
  receivedAt: number;
}

export interface TelemetryRecord {
  id: string;
  lockId: string;
  tsS: number;
  level: number;
  mv: number;
  state: "ok" | "low" | "critical";
  v: number | null;
  dropped: number | null;
  receivedAt: number;
}

export interface WebhookRecord {
  id: string;
  lockHolderId: string;
  url: string;
  secretSealed: string;
  createdAt: number;
  deletedAt: number | null;
  /** The event types it takes; null for every type. */
  eventTypes: string[] | null;
  pausedAt: number | null;
}

export type DeliveryStatus = "pending" | "delivered" | "failed";

export interface DeliveryRecord {
  id: string;
  webhookId: string;
  eventType: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

export type JobStatus = "pending" | "running" | "succeeded" | "failed";

export interface JobResult {
  index: number;
  keyId?: string;
  error?: string;
  /** The error's code (contracts JOB_ITEM_ERROR_CODES); absent in results stored before codes existed. */
  code?: string;
}

export interface JobRecord {
  id: string;
  integratorId: string;
  lockHolderId: string;
  kind: "keys.batch";
  status: JobStatus;
  total: number;
  done: number;
  /** Key ids created (in state `creating`) when the job was accepted, by item index. */
  keyIds: string[];
  results: JobResult[];
  createdAt: number;
  updatedAt: number;
}

export type ChangeKind = "vendor_connection" | "issuer" | "lock" | "key" | "action";

export interface ChangeRecord {
  seq: number;
  kind: ChangeKind;
  lockHolderId: string;
  vendorConnectionId: string | null;
  payload: Record<string, unknown>;
  createdAt: number;
}

export interface VerificationRecord {
  id: string;
  phoneNumber: string;
  codeHash: string;
  createdAt: number;
  expiresAt: number;
  attempts: number;
  status: "pending" | "confirmed" | "void";
}

export interface DeviceRecord {
  id: string;
  userId: string;
  publicKey: string;
  name: string | null;
  createdAt: number;
  deletedAt: number | null;
}

export interface Page<T> {
  items: T[];
  /** Set while more remains: pass it as `startAfterId` for the next page. */
  startAfterId: string | null;
}

export interface PageRequest {
  limit: number;
  startAfterId?: string | undefined;
}

/**
 * A lock holder's authority (docs/design.md section 7, docs/trust.md): the Ed25519 key that signs its locks' states,
 * time answers and commands. The public key (hex) is its id; the private key is sealed under the master key.
 */
export interface AuthorityRecord {
  publicKey: string;
  lockHolderId: string;
  secretSealed: string;
  createdAt: number;
  /** The hand-over (hex) the previous authority signed to this one; null for a lock holder's first authority. */
  handOver: string | null;
  /** When a newer authority replaced it; null while it signs. */
  supersededAt: number | null;
}

/** A lock's revoked key as the signed state needs it. */
export interface RevokedKeyRecord {
  cti: string;
  /** When the key was revoked, ms; for an edited key, its `before` in ms. */
  revokedAt: number;
  /** Only tokens with an iat below this (unix seconds) are revoked: a live key whose edit narrowed it. */
  before?: number;
  /** The latest exp of any token minted for the key (keys.max_token_exp_s); null when none is recorded. */
  maxTokenExpS: number | null;
}

/**
 * A lock holder's claim of a lock id with its setup code (docs/trust.md "Cloud"), and what the cloud signs for it. The
 * claim secret is sealed under the master key and never leaves the cloud except inside a pin tag. Several lock holders
 * may hold a pending claim of one id; the lock's own report confirms one (docs/design.md section 7 "Identity and
 * claim") and the others are dropped.
 */
export interface LockClaimRecord {
  lockId: string;
  lockHolderId: string;
  name: string | null;
  claimSecretSealed: string;
  /** The setup code's fingerprint of the lock's public keys (hex); null for a virtual lock (the cloud is the lock). */
  fingerprint: string | null;
  claimedAt: number;
  /** The lock's public keys (hex) once a report carried keys matching the fingerprint. */
  identityKey: string | null;
  agreementKey: string | null;
  /** The authority (public key hex) the lock last reported it has pinned. */
  reportedAuthority: string | null;
  maxStaleS: number | null;
  /** Unix seconds: tokens issued before it are refused (set when the revocations would not fit). */
  minIat: number | null;
  /** The highest v ever signed for this lock: the next one is above it. */
  lastV: number;
  /** The latest signed state (hex), its v, iat and the digest of its contents (domain/lock-state.ts). */
  stateDoc: string | null;
  stateV: number | null;
  stateIat: number | null;
  stateDigest: string | null;
  /** The authority (public key hex) that signed the cached state. */
  stateAuthority: string | null;
  /**
   * The lowest v signed for this lock by `stateAuthority`: a lock that applied a v at or above it has pinned that
   * authority (every v it signed for the lock is above every v signed before it), which its `state_applied` report says.
   */
  authorityFromV: number | null;
  /**
   * When the lock proved it accepted this holder's authority under this claim (an authenticated `state_applied` report
   * of a v in `signedVs`); null while the claim is pending.
   */
  confirmedAt: number | null;
  /** The v of each state signed for this claim while it is pending (the newest 64, ascending); [] once confirmed. */
  signedVs: number[];
}

export interface SignedStateRecord {
  doc: string;
  v: number;
  iat: number;
  digest: string;
  /** The authority (public key hex) that signed it. */
  authority: string;
}

/**
 * What the cloud keeps per claimed lock about its authenticated reports (docs/reports.md "What a cloud stores per
 * lock"). `ackSeq` is the highest event seq such that every seq from 1 to it was stored from a verified report: the
 * signed state's `ack` (never moved by a gateway's word). `pendingSeqs` are the event seqs stored from reports
 * above it (ascending); `refused` counts refused items per verdict, and `duplicate` for harmless re-sends.
 */
export interface LockReportRecord {
  lockId: string;
  /** null: no report accepted under the lock's current keys yet. */
  highestCounter: number | null;
  /** The lowest counter from which `counterGaps` is complete: every counter from it to `highestCounter` not in a gap was accepted. */
  counterFrom: number | null;
  /** Counter ranges `[from, to]` never accepted before a later one was (the newest ones, ascending). */
  counterGaps: [number, number][];
  ackSeq: number;
  pendingSeqs: number[];
  refused: Record<string, number>;
}

export type RemoteActionKind = ActionKind;
export type RemoteActionStatus = ActionStatus;

/**
 * A remote action (docs/design.md section 7 "Remote commands", docs/bridge-api.md "Remote actions"): an integrator's
 * unlock or lock of one lock, carried by the lock's bridge as a command the lock holder's authority signs over a fresh
 * lock nonce and the lock's next command counter. The stored status may lag the clock: an open action past `expiresAt`
 * is expired whatever the row says (domain/actions.ts), and the maintenance worker writes it so.
 */
export interface RemoteActionRecord {
  id: string;
  lockHolderId: string;
  lockId: string;
  action: RemoteActionKind;
  status: RemoteActionStatus;
  createdAt: number;
  expiresAt: number;
  completedAt: number | null;
  /** The lock's event (id, hex) that proved the action done. */
  eventId: string | null;
  /** A failure the bridge reported (the code and message are the bridge's word). */
  errorCode: string | null;
  errorMessage: string | null;
  /** The lock's command nonce (hex) the command was signed over; null until a bridge asked for the command. */
  nonce: string | null;
  counter: number | null;
  /** The signed command (hex): a bridge asking again with the same nonce gets the same bytes. */
  command: string | null;
  /** sha256(nonce), hex: what the lock's result event carries as `cmd` (protocol commandResultBinding). */
  binding: string | null;
}
