export { API_VERSION, buildApp } from "./app.js";
export {
  bootstrapIntegrator,
  type CloudOptions,
  DEFAULT_SETTINGS,
  type RunningCloud,
  startCloud,
} from "./cloud.js";
export type { CloudSettings, RetryPolicy } from "./context.js";
export { logOtpSender, type OtpMessage, type OtpSender, webhookOtpSender } from "./domain/otp.js";
export {
  isPublicAddress,
  type Resolve,
  type ResolvedAddress,
  webhookUrlProblem,
} from "./security/webhook-target.js";
export { openStore, type StoreOptions } from "./store/open.js";
export { PgStore, type PgStoreOptions } from "./store/postgres/pg-store.js";
export { describeDatabaseUrl, withSearchPath } from "./store/postgres/url.js";
export { SqliteStore } from "./store/sqlite/sqlite-store.js";
export type { Store, Tx } from "./store/store.js";
