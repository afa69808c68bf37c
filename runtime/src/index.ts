// @latchkey/runtime: what the cloud, the bridge and the lock simulator all need at run time and protocol may not hold
// (protocol is pure: no timers, files or sockets). See docs/design.md, "How the pieces fit".

export {
  BleUnavailableError,
  type Characteristic,
  loadNoble,
  loadNobleWithBindings,
  type Noble,
  type Peripheral,
  type Service,
} from "./ble/noble.js";
export { NobleGattLink } from "./ble/noble-link.js";
export { BleTimeoutError, withTimeout } from "./ble/timeout.js";
export { type FoundPackage, findPackage, UsageError } from "./cli.js";
export { addCliOptions, type CliOption, type CliOptions, type CliValues, readCliOptions } from "./cli-options.js";
export { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, type WiderMode, widerMode } from "./file-modes.js";
export { closeHttpServer, readRequestBody } from "./http-server.js";
export { createLogger, LOG_LEVELS, type Logger, type LoggerOptions, type LogLevel, REDACTED_PATHS } from "./logger.js";
export { answerMetrics, type MetricsText, type OpsHandler, OpsHttpServer, refuseWrites } from "./ops-http.js";
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
export { Backoff, ServiceLoop, type ServiceLoopOptions, sleep, type Timers } from "./service-loop.js";
export {
  type Migration,
  migrate,
  type OpenSqliteOptions,
  openSqlite,
  SchemaTooNewError,
  type SqliteDb,
} from "./sqlite.js";
export { columnGroup } from "./sqlite-row.js";
export { type PollOptions, PollTimeoutError, pollUntil, type Truthy } from "./wait.js";
