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
export interface IssuerChange {
  seq: number;
  kind: "issuer";
  lockHolderId: string;
  kid: string;
  x: string;
  retired: boolean;
}
export interface LockChange {
  seq: number;
  kind: "lock";
  lockId: string;
  vendorConnectionId: string;
  lockHolderId: string;
  removed: boolean;
}
export interface KeyChange {
  seq: number;
  kind: "key";
  keyId: string;
  lockId: string;
  cti: string;
  sub: string;
  nbf: number;
  exp: number;
  state: "active" | "revoked";
}
export type Change = VendorConnectionChange | IssuerChange | LockChange | KeyChange;

export interface ChangesPage {
  cursor: string;
  /** Raw entries: validated one by one when applied (an unknown kind is skipped, not fatal). */
  changes: unknown[];
  more: boolean;
}

export interface IngestResult {
  events: { stored: number; duplicates: number };
  telemetry: { stored: number; duplicates: number };
  presence: { stored: number };
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
