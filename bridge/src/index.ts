/**
 * @latchkey/bridge — the gateway daemon: locks (MQTT or BLE) ↔ cloud. See README.md.
 */

export { BleUnavailableError, type Noble } from "./ble/noble-loader.js";
export { type HttpAnswer, type HttpExchange, httpExchange } from "./cloud/http-request.js";
export type { CommandRequest } from "./commands/command-channel.js";
export { ENV_PREFIX, envName } from "./config/env.js";
export { ConfigError, type ConfigIssue } from "./config/errors.js";
export { loadBridgeConfig } from "./config/load.js";
export {
  type BridgeConfig,
  BridgeConfigSchema,
  type MqttAccount,
  type VendorAccount,
} from "./config/schema.js";
export { newSiteSecret, type StarterOptions, starterConfig } from "./config/starter.js";
export { type BridgeConfigInit, parseBridgeConfig } from "./config/validate.js";
export { type BridgeOptions, type RunningBridge, startBridge } from "./controller.js";
export { BRIDGE_VERSION } from "./version.js";
