export { UsageError } from "@latchkey/runtime";
export { LATCHKEY_BINS } from "./bins.js";
export {
  type BridgeFileOptions,
  type BridgeProcess,
  bridgeConfig,
  startBridgeProcess,
  writeBridgeConfig,
} from "./bridge-process.js";
export { ChildExitedError, type ChildLine, ManagedChild, type SpawnNodeOptions } from "./child.js";
export { runStackCli, type StackCliIo } from "./cli.js";
export {
  bootstrapIntegrator,
  type CloudCredentials,
  type CloudProcess,
  type CloudProcessOptions,
  childEnv,
  oneTimeCode,
  startCloudProcess,
} from "./cloud-process.js";
export { DataDirInUseError, lockDataDir } from "./data-lock.js";
export { runDemo } from "./demo.js";
export { DEFAULT_PORTS, parseStackArgs, type StackOptions } from "./options.js";
export { Output } from "./output.js";
export { assertBuilt, type Bins, bins, workspaceRoot } from "./paths.js";
export { choosePort, freePort, PortInUseError, portIsFree } from "./ports.js";
export { type RunningStack, startStack } from "./stack.js";
export { loadState, newState, type StackState, StateFileError, saveState, stateFile } from "./state.js";
export { curlCreateKey, type StackSummary, writeSummaryJson } from "./summary.js";
export { type ReceivedWebhook, WebhookReceiver } from "./webhook-receiver.js";
