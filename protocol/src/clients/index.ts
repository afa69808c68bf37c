/**
 * Typed clients of the cloud's three HTTP APIs (docs/design.md section 4): the Integrator API, the bridge API and the
 * phone app API, one method per route, typed by `@latchkey/protocol/contracts`. Each speaks through the `fetch` it is
 * handed (the global one by default): nothing here opens a socket of its own, and nothing polls; waiting for a job or
 * an action is the caller's (scripts' `IntegratorClient` does it over runtime's `pollUntil`).
 */
export {
  AppApiClient,
  AppApiError,
  type AppKey,
  type AppKeys,
  type AppLockState,
  type DeviceRegistration,
  type VerificationStarted,
} from "./app.js";
export { BearerClient, type ClientCredentials, type ClientOptions, requestAccessToken } from "./bearer.js";
export { BridgeApiClient } from "./bridge.js";
export { type ApiAnswer, ApiError, expectOk, type Query, type SendOptions, send, withQuery } from "./http.js";
export { IntegratorApiClient } from "./integrator.js";
export type * from "./types.js";
