/**
 * The public API of @latchkey/protocol, named one by one (issue 16 item 8): what lock-sim, bridge, cloud, scripts
 * and the whole-stack tests use, what protocol/README.md, docs/trust.md and docs/reports.md document, and the types
 * those functions take and answer. Helpers a module exports for its neighbours stay inside the package; its own
 * tests import them by module path.
 *
 * The `latchkey-token` CLI (protocol/cli/, a project of its own) is reached only through its bin and never from here,
 * so importing the library never loads commander; the benchmarks are the separate `@latchkey/protocol/bench` entry.
 */
export { DEFAULT_APP_LINK_BASE, prefetchKeysUrl, type UseKeyLink, useKeyUrl } from "./app-links.js";
export { chunkMessage, FrameAssembler } from "./ble/framing.js";
export {
  ADVERTISED_NAME_PREFIX,
  COMMAND_CHAR_UUID,
  DEFAULT_ATT_MTU,
  INFO_CHAR_UUID,
  LOCK_SERVICE_UUID,
  RESULT_CHAR_UUID,
} from "./ble/gatt.js";
export { base64UrlBytes, concatBytes, fromBase64Url, fromBase64UrlInto, fromHex, toBase64Url, toHex } from "./bytes.js";
export { toDiagnostic } from "./cbor/diagnostic.js";
export { cborHead, encodeCbor } from "./cbor/encode.js";
export { decodeStrict, type StrictDecodeOptions } from "./cbor/strict-decode.js";
export { type CborKey, CborTag, type CborValue } from "./cbor/tag.js";
export { type Clock, ManualClock } from "./clock.js";
export {
  Alg,
  type DecodeSign1Options,
  decodeSign1,
  HeaderLabel,
  type HeaderMap,
  type Sign1,
  type SignSign1Options,
  signSign1,
  sigStructure,
  verifySign1Signature,
} from "./cose/sign1.js";
export {
  type CredentialCheck,
  checkLockPassword,
  checkVendorCredentials,
  deriveLockPassword,
  type LockMqttLogin,
  lockMqttLogin,
  vendorCredentialDigest,
  vendorCredentialDigestSync,
} from "./credentials.js";
export {
  defaultEd25519,
  type Ed25519Backend,
  isStrongPublicKey,
  keyPairFromSeed,
  nobleEd25519,
  nodeEd25519,
  VerifyKey,
} from "./crypto/ed25519.js";
export {
  isProtocolError,
  type MessageErrorCode,
  ProtocolError,
  type ProtocolErrorCode,
  type ReportKeyErrorCode,
  type TokenErrorCode,
  TRUST_ERROR_CODES,
  type TrustErrorCode,
} from "./errors.js";
export {
  CLOCK_UNSET,
  COMMAND_TYPES,
  type Command,
  type CommandResult,
  type CommandResultCode,
  type CommandResultKeys,
  decodeCommand,
  decodeCommandResult,
  encodeCommand,
  encodeCommandResult,
  LOCK_STATES,
  type LockState,
  MAX_REPORTS_PER_RESULT,
} from "./messages/command.js";
export {
  decodeEvent,
  EVENT_ID_BYTES,
  EVENT_TYPES,
  encodeEvent,
  type LockEvent,
  type LockEventType,
} from "./messages/event.js";
export { isValidLockId } from "./messages/fields.js";
export { decodeLockKeys, encodeLockKeys, type LockKeysMessage } from "./messages/lock-keys.js";
export { decodeStatus, encodeStatus, type Presence } from "./messages/status.js";
export {
  BATTERY_STATES,
  type BatteryState,
  batteryStateFor,
  decodeTelemetry,
  encodeTelemetry,
  type Telemetry,
} from "./messages/telemetry.js";
export {
  type JudgeReportBatchOptions,
  judgeReportBatch,
  type LockReportState,
  type ReportBatchItem,
  type ReportBatchJudgement,
  type ReportGap,
} from "./reports/batch.js";
export { ReportCounter } from "./reports/counter.js";
export {
  type DeriveReportKeyOptions,
  deriveReportKey,
  hkdfSha256,
  REPORT_KEY_LABEL,
  type ReportKeyContext,
  reportKeyInfo,
  x25519KeyPairFromSeed,
  x25519PublicKey,
} from "./reports/key.js";
export { decodeMac0, type EncodeMac0Options, encodeMac0, type Mac0, type Mac0Header } from "./reports/mac0.js";
export {
  MAX_REPORT_BYTES,
  type OpenReportOptions,
  openReport,
  type PeekedReport,
  peekReport,
  REPORT_TYP,
  type Report,
  type ReportBody,
  type ReportHeaderMemo,
  type ReportKeyLookup,
  type ReportRefusal,
  type ReportVerdict,
  type ReportVerdictCode,
  type SealReportOptions,
  sealReport,
} from "./reports/report.js";
export { ClaimLabel, CNF_COSE_KEY, DEFAULT_LEEWAY_SECONDS, KEY_TOKEN_TYP, type KeyClaims } from "./token/claims.js";
export {
  NONCE_TTL_MS,
  NonceBook,
  type NonceCheck,
  type NonceIssue,
  type NonceRefusal,
  NonceRefusedError,
  type NonceTaken,
} from "./token/nonce.js";
export { peekAudience, peekCti } from "./token/peek.js";
export { NONCE_BYTES, signUnlockProof, type UnlockProofInput, verifyUnlockProof } from "./token/proof.js";
export {
  isValidTimeZone,
  localWeekMinute,
  MAX_SCHEDULE_UNCERTAINTY_SECONDS,
  MAX_SCHEDULE_WINDOWS,
  SCHEDULE_HEADER_LABEL,
  type ScheduleWindow,
  scheduleAllows,
  scheduleProblem,
} from "./token/schedule.js";
export { encodeClaims, type SignKeyTokenOptions, signKeyToken } from "./token/sign.js";
export { type RevocationList, type TrustedIssuer, TrustStore } from "./token/trust.js";
export { type UnlockRequest, verifyUnlockRequest } from "./token/unlock.js";
export { type VerifyKeyTokenOptions, type VerifyKeyTokenResult, verifyKeyToken } from "./token/verify.js";
export { DEFAULT_TOPIC_PREFIX, LOCK_TOPIC_KINDS, type LockTopicKind, type ParsedTopic, Topics } from "./topics.js";
export { toBase32 } from "./trust/base32.js";
export {
  commandResultBinding,
  REMOTE_ACTIONS,
  type RemoteAction,
  type RemoteCommand,
  resultMatchesCommand,
  signRemoteCommand,
  type VerifyRemoteCommandOptions,
  verifyRemoteCommand,
} from "./trust/command.js";
export type { Refused, TrustVerdict } from "./trust/document.js";
export { type HandOver, signHandOver, verifyHandOver } from "./trust/handover.js";
export { fingerprint, fingerprintMatches, type LockIdentity, type LockPublicKeys } from "./trust/identity.js";
export { CLAIM_SECRET_BYTES, MAX_STATE_BYTES, StateLabel, TrustHeaderLabel, TrustTyp } from "./trust/labels.js";
export { DEFAULT_MAX_PPM, LockClock } from "./trust/lock-clock.js";
export { pinTag } from "./trust/pin.js";
export { decodeSetupCode, encodeSetupCode, SETUP_CODE_PREFIX } from "./trust/setup-code.js";
export {
  type SignedLockState,
  type SignLockStateOptions,
  type StateIssuer,
  type StateReportKey,
  type StateRevocation,
  signLockState,
} from "./trust/state.js";
export { isStateStale, type LockTime, StateRevocations, trustedIssuers } from "./trust/state-policy.js";
export {
  type PinChange,
  type VerifyLockStateOptions,
  type VerifyLockStateResult,
  verifyLockState,
} from "./trust/state-verify.js";
export {
  decodeTimeRequest,
  encodeTimeRequest,
  MAX_TIME_RTT_MS,
  signTimeAnswer,
  type TimeAnswer,
  type TimeRequest,
  type VerifyTimeAnswerOptions,
  type VerifyTimeAnswerResult,
  verifyTimeAnswer,
} from "./trust/time.js";
