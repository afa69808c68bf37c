import type { FoundLocksAnswer, ReportVerdict } from "@latchkey/protocol/contracts";

/**
 * The bridge API's messages are the contracts' (`@latchkey/protocol/contracts`, docs/bridge-api.md); what is here is
 * only what the bridge makes of an answer: bytes decoded from base64url, verdicts it does not know folded.
 */
export type {
  ActionChange,
  ChangesPage,
  FeedChange as Change,
  IngestAnswer as IngestResult,
  IssuerChange,
  KeyChange,
  LockChange,
  VendorConnectionChange,
  VendorConnectionState,
} from "@latchkey/protocol/contracts";

/** The cloud's verdict on each item of a reports batch, in item order; `other` for a verdict this bridge does not know. */
export interface ReportsAnswer {
  verdicts: Array<{ verdict: ReportVerdict | "other"; message?: string }>;
}

/** `POST /bridge/v1/actions/{actionId}/command`: the authority's signed remote command, bytes untouched. */
export interface ActionCommand {
  actionId: string;
  lockId: string;
  command: Uint8Array;
}

export type FoundLockStatus = FoundLocksAnswer["locks"][number];

/** `GET /bridge/v1/locks/{lockId}/state` (docs/bridge-api.md): `state` decoded from base64url, bytes untouched. */
export interface LockStateDocument {
  lockId: string;
  /** The v the cloud answered beside the document: the courier compares versions by it, never by parsing. */
  v: number;
  iat: number;
  state: Uint8Array;
}
