/**
 * The wire contracts of the cloud's three HTTP APIs (bridge API, app API, Integrator API; docs/design.md section 4):
 * TypeBox schemas the cloud validates requests and serializes answers with, and the `Static` types and checks every
 * client (the bridge, scripts' client) reads the answers with. One definition per message, so the cloud and its
 * clients cannot drift apart. Pure: TypeBox schemas are data, nothing here does I/O.
 */
// The schema and type helpers a client needs with the contracts, so it need not depend on TypeBox itself.
export type { Static, TSchema } from "@sinclair/typebox";
export * from "./actions.js";
export * from "./activity.js";
export * from "./app-api.js";
export * from "./bridge-api.js";
export * from "./common.js";
export * from "./connections.js";
export * from "./formats.js";
export * from "./integrator.js";
export * from "./keys.js";
export * from "./parse.js";
export * from "./rfc3339.js";
