export { Air, AirLink, type AirOptions, type AirPdu, type AirStats, type FaultHook, type PduFate } from "./air.js";
export { formatPacket, HciLog, type HciLogSink } from "./btmon-log.js";
export { type ControllerOptions, EmulatedController } from "./controller.js";
export { type H4Server, type H4ServerOptions, serveH4 } from "./h4-server.js";
export { H4HciSocket, h4HciSocketClass, parseH4Address } from "./h4-socket.js";
export * as hci from "./hci-codec.js";
export { type HciFilter, hciFilterPasses, parseHciFilter } from "./hci-filter.js";
export {
  type BlenoInstance,
  HciEmulatorError,
  installEmulatedHci,
  loadBleno,
  loadNoble,
  loadWithHciSocket,
} from "./hci-loader.js";
export { EmulatedAdapters, emulatedHciSocketClass, type HciDevice } from "./hci-socket.js";
