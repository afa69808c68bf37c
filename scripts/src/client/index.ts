export { type PollOptions, PollTimeoutError, pollUntil } from "@latchkey/runtime";
export { type ApiAnswer, ApiError, expectOk, type Query, type SendOptions, send, withQuery } from "./http.js";
export {
  type ClientCredentials,
  type ClientOptions,
  IntegratorClient,
  requestAccessToken,
} from "./integrator-client.js";
export type * from "./types.js";
