export { API_VERSION, buildApp } from "./app.js";
export {
  bootstrapIntegrator,
  type CloudOptions,
  DEFAULT_SETTINGS,
  openStore,
  type RunningCloud,
  startCloud,
} from "./cloud.js";
export type { CloudSettings, RetryPolicy } from "./context.js";
export { logOtpSender, type OtpMessage, type OtpSender, webhookOtpSender } from "./domain/otp.js";
export { SqliteStore } from "./store/sqlite/sqlite-store.js";
export type { Store, Tx } from "./store/store.js";
