import type {
  AccessTokenRecord,
  Address,
  AuthorityRecord,
  BridgeRecord,
  ChangeRecord,
  ClientRecord,
  DeliveryRecord,
  DeviceRecord,
  EventRecord,
  IntegratorRecord,
  IssuerKeyRecord,
  JobRecord,
  JobResult,
  KeyRecord,
  LockClaimRecord,
  LockHolderRecord,
  LockRecord,
  LockReportRecord,
  Page,
  RemoteActionRecord,
  VendorConnectionRecord,
  VerificationRecord,
  WebhookRecord,
} from "./records.js";

/**
 * Table rows to records, shared by both drivers: the two schemas have the same column names and value shapes
 * (integers as numbers, JSON as text, booleans as 0/1), so a row maps the same whichever database it came from.
 */

// biome-ignore lint/suspicious/noExplicitAny: rows come untyped from the driver and are mapped field by field here
export type Row = any;

/** Lists fetch one row more than asked: its presence says more remains. */
export function toPage<R, T>(rows: R[], limit: number, map: (row: R) => T, idOf: (item: T) => string): Page<T> {
  const items = rows.slice(0, limit).map(map);
  const last = items[items.length - 1];
  return { items, startAfterId: rows.length > limit && last !== undefined ? idOf(last) : null };
}

export const integratorRow = (r: Row): IntegratorRecord => ({ id: r.id, name: r.name, createdAt: r.created_at });

export const clientRow = (r: Row): ClientRecord => ({
  clientId: r.client_id,
  integratorId: r.integrator_id,
  secretHash: r.secret_hash,
  previousSecretHash: r.previous_secret_hash ?? null,
  previousSecretExpiresAt: r.previous_secret_expires_at ?? null,
  createdAt: r.created_at,
});

export const accessTokenRow = (r: Row): AccessTokenRecord => ({
  tokenHash: r.token_hash,
  kind: r.kind,
  subjectId: r.subject_id,
  integratorId: r.integrator_id,
  lockHolderId: r.lock_holder_id,
  scope: r.scope,
  expiresAt: r.expires_at,
  issuedUnder: r.issued_under ?? null,
});

export const lockHolderRow = (r: Row): LockHolderRecord => ({
  id: r.id,
  integratorId: r.integrator_id,
  name: r.name,
  countryIso: r.country_iso,
  organizationId: r.organization_id,
  organizationIdSuffix: r.organization_id_suffix,
  createdAt: r.created_at,
});

export const issuerKeyRow = (r: Row): IssuerKeyRecord => ({
  kid: r.kid,
  lockHolderId: r.lock_holder_id,
  publicKey: r.public_key,
  secretSealed: r.secret_sealed,
  createdAt: r.created_at,
  rotatedAt: r.rotated_at,
  maxTokenExpS: r.max_token_exp_s,
  retiredAt: r.retired_at,
});

export const bridgeRow = (r: Row): BridgeRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  name: r.name,
  secretHash: r.secret_hash,
  previousSecretHash: r.previous_secret_hash ?? null,
  previousSecretExpiresAt: r.previous_secret_expires_at ?? null,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  version: r.version,
  locksOnline: r.locks_online,
});

export const verificationRow = (r: Row): VerificationRecord => ({
  id: r.id,
  phoneNumber: r.phone_number,
  codeHash: r.code_hash,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  attempts: r.attempts,
  status: r.status,
});

export const deviceRow = (r: Row): DeviceRecord => ({
  id: r.id,
  userId: r.user_id,
  publicKey: r.public_key,
  name: r.name,
  createdAt: r.created_at,
  deletedAt: r.deleted_at,
});

export const vendorConnectionRow = (r: Row): VendorConnectionRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  vendor: r.vendor,
  username: r.username,
  credentialSalt: r.credential_salt,
  credentialDigest: r.credential_digest,
  bridgeId: r.bridge_id,
  state: r.state,
  reason: r.reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  deletedAt: r.deleted_at,
});

export const lockRow = (r: Row): LockRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  vendorConnectionId: r.vendor_connection_id,
  vendor: r.vendor,
  name: r.name,
  imageUrl: r.image_url,
  address: r.address === null ? null : (JSON.parse(r.address) as Address),
  timezone: r.timezone,
  createdAt: r.created_at,
  removedAt: r.removed_at,
  battery:
    r.battery_level === null
      ? null
      : {
          level: r.battery_level,
          mv: r.battery_mv,
          state: r.battery_state,
          tsS: r.battery_ts_s,
          updatedAt: r.battery_updated_at,
        },
  online: r.online === 1,
  presenceTsS: r.presence_ts_s,
  eventSeq: r.event_seq,
});

export const keyRow = (r: Row): KeyRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  lockId: r.lock_id,
  cti: r.cti,
  userId: r.user_id,
  userName: r.user_name ?? null,
  startAt: r.start_at,
  endAt: r.end_at,
  status: r.status,
  error: r.error,
  revokedAt: r.revoked_at,
  maxTokenExpS: r.max_token_exp_s ?? null,
  metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, unknown>),
  recurrence: r.recurrence == null ? null : (JSON.parse(r.recurrence) as KeyRecord["recurrence"]),
  jobId: r.job_id,
  createdAt: r.created_at,
  editedAt: r.edited_at ?? null,
  revokeBefore: r.revoke_before ?? null,
  revokeUntilS: r.revoke_until_s ?? null,
});

export const changeRow = (r: Row): ChangeRecord => ({
  seq: r.seq,
  kind: r.kind,
  lockHolderId: r.lock_holder_id,
  vendorConnectionId: r.vendor_connection_id,
  payload: JSON.parse(r.payload) as Record<string, unknown>,
  createdAt: r.created_at,
});

export const eventRow = (r: Row): EventRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  lockId: r.lock_id,
  seq: r.seq,
  tsS: r.ts_s,
  type: r.type,
  cti: r.cti,
  keyId: r.key_id,
  userId: r.user_id,
  code: r.code,
  dropped: r.dropped,
  v: r.v,
  receivedAt: r.received_at,
});

export const webhookRow = (r: Row): WebhookRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  url: r.url,
  secretSealed: r.secret_sealed,
  createdAt: r.created_at,
  deletedAt: r.deleted_at,
  eventTypes: r.event_types == null ? null : (JSON.parse(r.event_types) as string[]),
  pausedAt: r.paused_at ?? null,
});

export const deliveryRow = (r: Row): DeliveryRecord => ({
  id: r.id,
  webhookId: r.webhook_id,
  eventType: r.event_type,
  payload: r.payload,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastError: r.last_error,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
});

export const jobRow = (r: Row): JobRecord => ({
  id: r.id,
  integratorId: r.integrator_id,
  lockHolderId: r.lock_holder_id,
  kind: r.kind,
  status: r.status,
  total: r.total,
  done: r.done,
  keyIds: JSON.parse(r.key_ids) as string[],
  results: JSON.parse(r.results) as JobResult[],
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The JSON text a column holds for an object (null stays null). */
export const jsonText = (value: unknown): string | null => (value === null ? null : JSON.stringify(value));

export const authorityRow = (r: Row): AuthorityRecord => ({
  publicKey: r.public_key,
  lockHolderId: r.lock_holder_id,
  secretSealed: r.secret_sealed,
  createdAt: r.created_at,
  handOver: r.hand_over,
  supersededAt: r.superseded_at,
});

export const lockClaimRow = (r: Row): LockClaimRecord => ({
  lockId: r.lock_id,
  lockHolderId: r.lock_holder_id,
  name: r.name,
  claimSecretSealed: r.claim_secret_sealed,
  fingerprint: r.fingerprint,
  claimedAt: r.claimed_at,
  identityKey: r.identity_key,
  agreementKey: r.agreement_key,
  reportedAuthority: r.reported_authority,
  maxStaleS: r.max_stale_s,
  minIat: r.min_iat,
  lastV: r.last_v,
  stateDoc: r.state_doc,
  stateV: r.state_v,
  stateIat: r.state_iat,
  stateDigest: r.state_digest,
  stateAuthority: r.state_authority ?? null,
  authorityFromV: r.authority_from_v ?? null,
  confirmedAt: r.confirmed_at ?? null,
  signedVs: JSON.parse(r.signed_vs) as number[],
});

export const lockReportRow = (r: Row): LockReportRecord => ({
  lockId: r.lock_id,
  highestCounter: r.highest_counter,
  counterFrom: r.counter_from,
  counterGaps: JSON.parse(r.counter_gaps) as [number, number][],
  ackSeq: r.ack_seq,
  pendingSeqs: JSON.parse(r.pending_seqs) as number[],
  refused: JSON.parse(r.refused) as Record<string, number>,
});

export const remoteActionRow = (r: Row): RemoteActionRecord => ({
  id: r.id,
  lockHolderId: r.lock_holder_id,
  lockId: r.lock_id,
  action: r.action,
  status: r.status,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  completedAt: r.completed_at ?? null,
  eventId: r.event_id ?? null,
  errorCode: r.error_code ?? null,
  errorMessage: r.error_message ?? null,
  nonce: r.nonce ?? null,
  counter: r.counter ?? null,
  command: r.command ?? null,
  binding: r.binding ?? null,
});
