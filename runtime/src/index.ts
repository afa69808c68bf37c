// @latchkey/runtime: what the cloud, the bridge and the lock simulator all need at run time and protocol may not hold
// (protocol is pure: no timers, files or sockets). See docs/design.md, "How the pieces fit".

export { type FoundPackage, findPackage, UsageError } from "./cli.js";
export {
  isObjectSchema,
  isSecretSchema,
  type OptionIssue,
  pointerToKey,
  type SchemaLeaf,
  schemaAt,
  schemaIssues,
  schemaLeaves,
} from "./options.js";
export {
  type Migration,
  migrate,
  type OpenSqliteOptions,
  openSqlite,
  SchemaTooNewError,
  type SqliteDb,
} from "./sqlite.js";
export { type PollOptions, PollTimeoutError, pollUntil, type Truthy } from "./wait.js";
