/**
 * Answers of the latchkey cloud's Integrator API (docs/design.md section 4), as the cloud's TypeBox schemas describe them.
 * Times are ISO 8601 strings.
 */

export interface TokenAnswer {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  scope: string;
}

export interface Integrator {
  id: string;
  name: string;
  created: string;
}

export interface LockHolder {
  id: string;
  name: string;
  countryIso: string | null;
  organizationId: string | null;
  organizationIdSuffix: string | null;
  created: string;
}

export interface LockHolderInput {
  name: string;
  countryIso?: string;
  organizationId?: string;
  organizationIdSuffix?: string;
}

export interface Bridge {
  id: string;
  name: string | null;
  online: boolean;
  lastSeen: string | null;
  version: string | null;
  locksOnline: number | null;
  created: string;
}

/** `secret` is shown once: it goes into the bridge's config file. */
export interface CreatedBridge {
  bridgeId: string;
  secret: string;
  bridge: Bridge;
}

/** A rotated secret (shown once); the old one works until `expiresOldAt` (ISO 8601). */
export interface RotatedBridgeSecret {
  bridgeId: string;
  secret: string;
  expiresOldAt: string;
}

export interface RotatedClientSecret {
  clientId: string;
  secret: string;
  expiresOldAt: string;
}

/** How long the old secret keeps working: default a day, at most 7 days, 0 revokes it (and its tokens) now. */
export interface RotateSecretOptions {
  overlapSeconds?: number;
}

export type VendorConnectionState = "connecting" | "refreshing" | "connected" | "error" | "disconnected";

export interface VendorConnection {
  id: string;
  vendor: string;
  state: VendorConnectionState;
  reason: string | null;
  username: string | null;
  bridgeId: string | null;
  created: string;
  updated: string;
}

export type VendorConnectionInput =
  | { vendor: "virtual"; locksToCreate: number }
  | { vendor: "sim" | "ble"; username: string; password: string; bridgeId: string };

export interface Address {
  street?: string;
  postalCode?: string;
  city?: string;
  countryIso?: string;
  floor?: string;
  visitorInstructions?: string;
}

export type BatteryState = "ok" | "low" | "critical";

export interface Battery {
  level: number;
  state: BatteryState;
  updatedAt: string;
}

export interface Lock {
  id: string;
  name: string;
  vendor: string;
  vendorConnectionId: string;
  imageUrl: string | null;
  address: Address | null;
  timezone: string | null;
  created: string;
  battery: Battery | null;
  online: boolean;
  /** This lock holder claimed it with its setup code, pending or confirmed (virtual locks: by construction). */
  claimed: boolean;
  /** This lock holder's claim: pending until the lock proves it, then confirmed; null: not claimed (docs/trust.md). */
  claim: ClaimStatus | null;
  /** The v of the lock's latest signed state; null: none signed yet. */
  stateV: number | null;
  /** Seconds after which the lock fails closed without a newer state; null: never. */
  maxStale: number | null;
}

/**
 * A claim's standing (docs/trust.md "Cloud", Claim): `pending` until the lock applies a state signed for the claim and
 * its sealed report says so, then `confirmed` (other holders' claims of the id are dropped). Virtual locks: confirmed.
 */
export type ClaimStatus = "pending" | "confirmed";

/** `POST …/locks/claims`: 201 a new claim, 200 this lock holder's claim again (docs/design.md section 7). */
export interface ClaimedLock {
  lockId: string;
  name: string;
  claimed: true;
  claim: ClaimStatus;
  claimedAt: string;
  /** A report of the lock carried public keys matching the setup code. */
  keysReported: boolean;
  stateV: number | null;
}

/** The lock holder's authority: the key its claimed locks pin (docs/trust.md "Cloud"). */
export interface Authority {
  /** Ed25519, 32 bytes hex. */
  publicKey: string;
  created: string;
  /** base64url: the hand-over the previous authority signed to this one, if any. */
  handOver: string | null;
  /** Claimed locks that have not yet reported this authority. */
  locksBehind: number;
}

/** PATCH: a field set to null is removed (`{address: null}` removes the whole address). */
export interface LockPatch {
  name?: string;
  imageUrl?: string | null;
  address?: { [K in keyof Address]?: Address[K] | null } | null;
  timezone?: string | null;
}

export type KeyState = "creating" | "scheduled" | "active" | "expired" | "error" | "revoked";

export interface KeyInput {
  /** The key holder's mobile number: E.164, or national in the lock holder's country. */
  userId: string;
  start?: string | null;
  end?: string | null;
  durationMinutes?: number;
  metadata?: Record<string, unknown>;
  skipInviteNotification?: boolean;
}

export interface Key {
  id: string;
  lockId: string;
  toUser: { id: string };
  userId: string;
  start: string;
  end: string | null;
  created: string;
  state: KeyState;
  error?: string;
  metadata: Record<string, unknown> | null;
  useKeyUrl: string;
}

export type JobStatus = "pending" | "running" | "succeeded" | "failed";

export interface Job {
  id: string;
  status: JobStatus;
  total: number;
  done: number;
  results: Array<{ index: number; keyId?: string; error?: string }>;
  created: string;
  updated: string;
}

/** Unloc's key event: the lock holder events list and the webhook payload's `data`. */
export interface KeyEvent {
  id: string;
  action: string;
  created: string;
  keyId: string | null;
  lockId: string;
  lockName: string;
  userId: string | null;
  userName: string | null;
  code?: string;
}

export type RemoteActionKind = "unlock" | "lock";
export type ActionStatus = "pending" | "sent" | "succeeded" | "failed" | "expired";

/**
 * A remote unlock or lock (docs/bridge-api.md "Remote actions"): `succeeded` only on the lock's own sealed report
 * (`eventId`), `failed` only on the bridge's word (`error.reportedBy`), `expired` 60 s after creation.
 */
export interface RemoteAction {
  id: string;
  lockId: string;
  action: RemoteActionKind;
  status: ActionStatus;
  createdAt: string;
  expiresAt: string;
  completedAt?: string;
  eventId?: string;
  error?: { code: string; message: string; reportedBy: "bridge" };
}

export interface Webhook {
  id: string;
  url: string;
  created: string;
}

/** `secret` (whsec_…) is shown once: deliveries are signed with it (Standard Webhooks). */
export interface CreatedWebhook extends Webhook {
  secret: string;
}

export interface WebhookDelivery {
  id: string;
  type: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  nextAttempt: string | null;
  lastError: string | null;
  created: string;
  delivered: string | null;
}

export interface IssuerKey {
  kid: string;
  x: string;
  active: boolean;
  created: string;
  rotated: string | null;
  retired: string | null;
}

export interface Page {
  limit?: number;
  startAfterId?: string;
}
