export type * from "@latchkey/protocol/clients";
export {
  type ApiAnswer,
  ApiError,
  type ClientCredentials,
  type ClientOptions,
  expectOk,
  type Query,
  requestAccessToken,
  type SendOptions,
  send,
  withQuery,
} from "@latchkey/protocol/clients";
export { type PollOptions, PollTimeoutError, pollUntil } from "@latchkey/runtime";
export { IntegratorClient } from "./integrator-client.js";
