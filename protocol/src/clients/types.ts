/**
 * Answers and requests of the latchkey cloud's Integrator API (docs/design.md section 4): the contracts' types
 * (`@latchkey/protocol/contracts`, the schemas the cloud validates and answers with), under the names this client has
 * always given them. Times are ISO 8601 strings.
 */
export type {
  Action as RemoteAction,
  ActionKind as RemoteActionKind,
  ActionStatus,
  Address,
  Authority,
  Battery,
  BatteryState,
  Bridge,
  ClaimedLock,
  ClaimStatus,
  CreatedBridge,
  CreatedWebhook,
  CreateKeyOnLock as KeyInput,
  CreateLockHolder as LockHolderInput,
  CreateVendorConnection as VendorConnectionInput,
  Delivery as WebhookDelivery,
  EditKey as KeyEdit,
  Integrator,
  IssuerKey,
  Job,
  JobItemError,
  JobState,
  JobStatus,
  Key,
  KeyEvent,
  KeyState,
  Lock,
  LockHolder,
  PatchLock as LockPatch,
  RotatedBridgeSecret,
  RotatedClientSecret,
  RotateSecret as RotateSecretOptions,
  TokenAnswer,
  UpdateWebhook as WebhookPatch,
  VendorConnection,
  VendorConnectionState,
  Webhook,
  WebhookEventType,
} from "../contracts/index.js";

/** A page of a list: `startAfterId` is the previous page's cursor. */
export interface Page {
  limit?: number;
  startAfterId?: string;
}
