// What a Phone's calls throw; the app API client itself and its types are protocol's (`@latchkey/protocol/clients`).
export { AppApiError } from "@latchkey/protocol/clients";
export { BleUnavailableError, type Noble } from "@latchkey/runtime";
export {
  BleTimeoutError,
  type ConnectOptions,
  connectToLock,
  LockSession,
  loadHardwareNoble,
} from "./ble/central.js";
export { CHALLENGES_PER_CONNECTION } from "./ble/lock-gatt.js";
export {
  type AdvertisementHandle,
  type RadioFault,
  type RadioPdu,
  type VirtualPeripheral,
  VirtualRadio,
  type VirtualRadioOptions,
} from "./ble/virtual-radio.js";
export { runLockSimCli } from "./cli/lock-sim.js";
export { FlashError } from "./flash/flash-file.js";
export { type Fleet, type FleetOptions, FleetOptionsError, fleetLockIds, startFleet } from "./fleet/fleet.js";
export type { BatteryOptions, BatteryReading } from "./lock/battery.js";
export { type FactoryOptions, factoryResetLock, type LabelledLock, setupCodes } from "./lock/factory.js";
export { FLASH_FORMAT, FlashFormatError, type LockIdentityKeys, setupCodeOf } from "./lock/identity.js";
export { type DriftOptions, type LockOptions, LockOptionsError } from "./lock/options.js";
export type { EventMatch, SimLock } from "./lock/sim-lock.js";
export { startLock } from "./lock/start-lock.js";
export {
  type EngineKeyResult,
  type KeyCheck,
  type KeyCheckRefusal,
  type ReportKey,
  TIME_UNCERTAINTY_LIMIT_MS,
  TrustEngine,
  type TrustEngineOptions,
} from "./lock/trust-engine.js";
export {
  Phone,
  PhoneError,
  type PhoneKey,
  type PhoneOptions,
  type UnlockOptions,
  type UnlockOutcome,
} from "./phone/phone.js";
export { type RandomSource, seededRandom, systemRandom } from "./random.js";
export type { WaitOptions } from "./wait.js";
