import type { CredentialCheck } from "@latchkey/protocol";

/** The bridge API's wire shapes (docs/bridge-api.md). */
export type VendorConnectionState = "connecting" | "refreshing" | "connected" | "error" | "disconnected";

export interface VendorConnectionChange {
  seq: number;
  kind: "vendor_connection";
  vendorConnection: {
    id: string;
    lockHolderId: string;
    vendor: string;
    username: string;
    credentialCheck: CredentialCheck;
    state: VendorConnectionState;
    deleted: boolean;
  };
}
/**
 * `issuer` and `key` entries: the bridge keeps nothing of them (docs/bridge-api.md), they only mean locks' signed
 * states changed, so their other fields are neither checked nor typed here.
 */
export interface IssuerChange {
  seq: number;
  kind: "issuer";
}
export interface LockChange {
  seq: number;
  kind: "lock";
  lockId: string;
  vendorConnectionId: string;
  lockHolderId: string;
  removed: boolean;
  /** Claimed by the connection's lock holder (absent from a cloud before claims reached the feed). */
  claimed?: boolean;
}
export interface KeyChange {
  seq: number;
  kind: "key";
}
/** A remote action for a lock this bridge serves (docs/bridge-api.md "Remote actions"). */
export interface ActionChange {
  seq: number;
  kind: "action";
  actionId: string;
  lockId: string;
  action: "unlock" | "lock";
  /** ISO 8601; the bridge never carries the action after it. */
  expiresAt: string;
}
export type Change = VendorConnectionChange | IssuerChange | LockChange | KeyChange | ActionChange;

export interface ChangesPage {
  cursor: string;
  /** Raw entries: validated one by one when applied (an unknown kind is skipped, not fatal). */
  changes: unknown[];
  more: boolean;
}

export interface IngestResult {
  presence: { stored: number };
}

/** Verdicts of `POST /bridge/v1/reports` (docs/bridge-api.md "Reports from the lock"). */
export const REPORT_VERDICTS = [
  "ok",
  "duplicate",
  "forged",
  "wrong_lock",
  "replayed",
  "malformed",
  "unknown_key",
  "unclaimed",
] as const;
export type ReportUploadVerdict = (typeof REPORT_VERDICTS)[number];

/** The cloud's verdict on each item of a reports batch, in item order; `other` for a verdict this bridge does not know. */
export interface ReportsAnswer {
  verdicts: Array<{ verdict: ReportUploadVerdict | "other"; message?: string }>;
}

/** `POST /bridge/v1/actions/{actionId}/command`: the authority's signed remote command, bytes untouched. */
export interface ActionCommand {
  actionId: string;
  lockId: string;
  command: Uint8Array;
}

export interface FoundLockStatus {
  id: string;
  status: "created" | "existing" | "conflict";
}

/** `GET /bridge/v1/locks/{lockId}/state` (docs/bridge-api.md): `state` decoded from base64url, bytes untouched. */
export interface LockStateDocument {
  lockId: string;
  /** The v the cloud answered beside the document: the courier compares versions by it, never by parsing. */
  v: number;
  iat: number;
  state: Uint8Array;
}
