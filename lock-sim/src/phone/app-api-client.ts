// The phone app API's client lives with the contracts it speaks (`@latchkey/protocol/clients`); the phone's names stay.
export {
  AppApiClient,
  AppApiError,
  type AppKey,
  type AppKeys,
  type AppLockState,
  type DeviceRegistration,
  type VerificationStarted,
} from "@latchkey/protocol/clients";
