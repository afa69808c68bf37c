import { encodeCbor } from "../cbor/encode.js";
import type { CborKey, CborValue } from "../cbor/tag.js";
import { isProtocolError, ProtocolError } from "../errors.js";
import { decodeEvent, encodeEvent, type LockEvent, MAX_MESSAGE_BYTES } from "../messages/event.js";
import { Fields, isValidLockId } from "../messages/fields.js";
import { decodeTelemetry, encodeTelemetry, type Telemetry } from "../messages/telemetry.js";
import { MAX_REPORT_KID_BYTES, REPORT_KEY_BYTES } from "./key.js";
import {
  ALG_HMAC_256_256,
  decodeMac0Envelope,
  decodeMac0Protected,
  encodeMac0,
  type Mac0,
  type Mac0Envelope,
  verifyMac0Tag,
} from "./mac0.js";

/**
 * A lock-authenticated report (docs/reports.md): today's event or telemetry message, the lock's report counter, and a
 * COSE_Mac0 under the report key. The cloud believes a report only when the MAC holds under the key of the lock it
 * was delivered for, and only once: the counter must rise above the highest it has accepted from that lock.
 */

/** The `typ` (RFC 9596) of a report: no key token, signed state or other COSE document passes as one. */
export const REPORT_TYP = "application/latchkey-report+cose";
/** Protected header label of the lock id: read before the MAC, so a report delivered for another lock is named so. */
export const REPORT_LOCK_LABEL = "lock";
/** Header labels (RFC 9052 section 3.1). */
const LABEL = { alg: 1, kid: 4, typ: 16 } as const;
const ALLOWED_LABELS = new Set<CborKey>([LABEL.alg, LABEL.kid, LABEL.typ, REPORT_LOCK_LABEL]);

/** The inner message keeps its own 4 KiB cap; the envelope adds headers, counter and tag. */
export const MAX_REPORT_BYTES = MAX_MESSAGE_BYTES + 256;

export const REPORT_KINDS = ["event", "telemetry"] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

export type ReportBody = { kind: "event"; event: LockEvent } | { kind: "telemetry"; telemetry: Telemetry };

/** An accepted report. */
export type Report = ReportBody & {
  lock: string;
  /** The lock's report counter: one sequence across events and telemetry. */
  ctr: number;
  /** The cloud report key id it was MACed under. */
  kid: Uint8Array;
};

export type ReportVerdictCode = "ok" | "forged" | "wrong_lock" | "replayed" | "malformed" | "unknown_key";
export type ReportRefusal = Exclude<ReportVerdictCode, "ok">;

export type ReportVerdict =
  | { ok: true; verdict: "ok"; report: Report }
  | {
      ok: false;
      verdict: ReportRefusal;
      message: string;
      /** The counter of an authentic report refused as `replayed`, for the caller's count. */
      ctr?: number;
    };

/**
 * The report key the caller holds for `(lockId, kid)`, or undefined when it has none (`unknown_key`). The cloud
 * derives it once per lock and key id (deriveReportKey) and keeps it; protocol keeps no state.
 */
export type ReportKeyLookup = (lockId: string, kid: Uint8Array) => Uint8Array | undefined;

export type SealReportOptions = ReportBody & {
  /** The report key (deriveReportKey on the lock's side). */
  key: Uint8Array;
  /** The cloud's report key id, from the lock's applied state. */
  cloudKeyId: Uint8Array;
  /** The lock's next report counter, already made durable (docs/reports.md "Counter"). */
  ctr: number;
};

function checkKid(kid: Uint8Array): void {
  if (!(kid instanceof Uint8Array) || kid.length === 0 || kid.length > MAX_REPORT_KID_BYTES) {
    throw new ProtocolError("invalid_message", `cloud key id must be 1 to ${MAX_REPORT_KID_BYTES} bytes`);
  }
}

/** The lock's side: MACs one event or telemetry reading with its counter. */
export function sealReport(options: SealReportOptions): Uint8Array {
  checkKid(options.cloudKeyId);
  if (!(options.key instanceof Uint8Array) || options.key.length !== REPORT_KEY_BYTES) {
    throw new ProtocolError("invalid_message", `report key must be ${REPORT_KEY_BYTES} bytes`);
  }
  if (!Number.isSafeInteger(options.ctr) || options.ctr < 1) {
    throw new ProtocolError("invalid_message", "report counter must be a safe integer of at least 1");
  }
  const lock = options.kind === "event" ? options.event.lock : options.telemetry.lock;
  if (!isValidLockId(lock)) throw new ProtocolError("invalid_message", `lock id "${lock}" is not valid`);
  const msg = options.kind === "event" ? encodeEvent(options.event) : encodeTelemetry(options.telemetry);
  const payload = encodeCbor({ ctr: options.ctr, kind: options.kind, msg });
  const protectedHeader = new Map<CborKey, CborValue>([
    [LABEL.alg, ALG_HMAC_256_256],
    [LABEL.kid, options.cloudKeyId],
    [LABEL.typ, REPORT_TYP],
    [REPORT_LOCK_LABEL, lock],
  ]);
  const bytes = encodeMac0({ protectedHeader, payload, key: options.key });
  if (bytes.length > MAX_REPORT_BYTES) {
    throw new ProtocolError("too_large", `report is ${bytes.length} bytes, over ${MAX_REPORT_BYTES}`);
  }
  return bytes;
}

export interface OpenReportOptions {
  /** The lock the report was delivered for (its topic, or the batch item's lock id). */
  lockId: string;
  keys: ReportKeyLookup;
  /** The highest counter accepted from this lock; absent when none is recorded yet (no replay check). */
  highestCounter?: number;
  /**
   * A memo of protected headers that passed the header checks, kept by the caller for the reports of one batch (a new
   * `Map` per batch): a lock seals every report under the same header, so the rest of its reports skip decoding it.
   */
  headers?: ReportHeaderMemo;
}

/**
 * Protected headers that passed `headerOf` and named the delivering lock, by that lock id: the bytes (a copy), the key
 * id (a copy) and the lock. The checks are a function of those bytes and an empty unprotected header, so bytes equal to
 * a memo's pass them again. Only what passed is kept; a caller's map, so bounded by what the caller feeds it.
 */
export type ReportHeaderMemo = Map<string, { bytes: Uint8Array; kid: Uint8Array; lock: string }>;

const refuse = (verdict: ReportRefusal, message: string, ctr?: number): ReportVerdict =>
  ctr === undefined ? { ok: false, verdict, message } : { ok: false, verdict, message, ctr };

/** Reads the report header rules: alg 5, our `typ`, a kid, the lock id, nothing else protected or unprotected. */
function headerOf(
  message: Pick<Mac0, "protectedHeader" | "unprotectedHeader">,
): { kid: Uint8Array; lock: string } | string {
  const h = message.protectedHeader;
  if (message.unprotectedHeader.size !== 0) return "the unprotected header must be empty";
  for (const label of h.keys()) if (!ALLOWED_LABELS.has(label)) return `unexpected header label ${String(label)}`;
  if (h.get(LABEL.typ) !== REPORT_TYP) return `typ is not ${REPORT_TYP}`;
  if (h.get(LABEL.alg) !== ALG_HMAC_256_256) return `alg must be ${ALG_HMAC_256_256} (HMAC 256/256)`;
  const kid = h.get(LABEL.kid);
  if (!(kid instanceof Uint8Array) || kid.length === 0 || kid.length > MAX_REPORT_KID_BYTES)
    return `kid must be a byte string of 1 to ${MAX_REPORT_KID_BYTES} bytes`;
  const lock = h.get(REPORT_LOCK_LABEL);
  if (!isValidLockId(lock)) return "the lock header must be a valid lock id";
  return { kid, lock };
}

function bodyOf(payload: Uint8Array, lock: string): { ctr: number; body: ReportBody } {
  const f = Fields.decode(payload, "report", { maxDepth: 1 });
  const ctr = f.int("ctr", 1);
  const kind = f.oneOf("kind", REPORT_KINDS);
  const msg = f.bytes("msg", undefined, MAX_MESSAGE_BYTES);
  const body: ReportBody =
    kind === "event" ? { kind, event: decodeEvent(msg) } : { kind, telemetry: decodeTelemetry(msg) };
  const named = body.kind === "event" ? body.event.lock : body.telemetry.lock;
  if (named !== lock) throw new WrongLock(`the message names lock "${named}", the header "${lock}"`);
  return { ctr, body };
}

class WrongLock extends Error {}

/**
 * The cloud's side, for one report. Never throws. Order (docs/reports.md "Verdicts"): size cap and strict envelope
 * (`malformed`), header lock against the delivering lock (`wrong_lock`), key id (`unknown_key`), MAC in constant time
 * (`forged`), then and only then the payload (`malformed`, `wrong_lock` when the message names another lock), and the
 * counter against `highestCounter` (`replayed`).
 */
export function openReport(bytes: Uint8Array, options: OpenReportOptions): ReportVerdict {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_REPORT_BYTES) {
    return refuse("malformed", `a report is a byte string of at most ${MAX_REPORT_BYTES} bytes`);
  }
  let envelope: Mac0Envelope;
  try {
    envelope = decodeMac0Envelope(bytes, { maxBytes: MAX_REPORT_BYTES });
  } catch (e) {
    return refuse("malformed", isProtocolError(e) ? e.message : "not a COSE_Mac0");
  }
  const header = checkedHeader(envelope, options.lockId, options.headers);
  if ("refused" in header) return refuse(header.refused, header.message);
  const key = options.keys(options.lockId, header.kid);
  if (key === undefined) return refuse("unknown_key", "no report key for this lock and key id");
  if (!verifyMac0Tag(envelope, key)) return refuse("forged", "the MAC does not verify under this lock's report key");
  let parsed: { ctr: number; body: ReportBody };
  try {
    parsed = bodyOf(envelope.payload, header.lock);
  } catch (e) {
    if (e instanceof WrongLock) return refuse("wrong_lock", e.message);
    return refuse("malformed", isProtocolError(e) ? e.message : "payload out of shape");
  }
  if (options.highestCounter !== undefined && parsed.ctr <= options.highestCounter) {
    return refuse("replayed", `counter ${parsed.ctr} is not above ${options.highestCounter}`, parsed.ctr);
  }
  // Built field by field: an object spread of the body costs more here (~2.5 µs) than the MAC's key set-up, on the
  // cloud's ingest path once per report (scripts/README.md "Issue 17, fourth pass").
  const kid = new Uint8Array(header.kid);
  const { body } = parsed;
  const report: Report =
    body.kind === "event"
      ? { kind: "event", event: body.event, lock: header.lock, ctr: parsed.ctr, kid }
      : { kind: "telemetry", telemetry: body.telemetry, lock: header.lock, ctr: parsed.ctr, kid };
  return { ok: true, verdict: "ok", report };
}

/** What a courier may read of a report without its key: nothing in it is vouched for. */
export type PeekedReport = ReportBody & { lock: string; ctr: number };

/**
 * A courier's look inside a report it carries (the bridge's Home Assistant state, battery and status page): the same
 * strict envelope, header and payload checks as `openReport` but no MAC check, since a courier never holds the key.
 * So the answer is unauthenticated, labelled as such wherever it is shown, and decides nothing: only the cloud's
 * verdict does (docs/reports.md). Throws ProtocolError (`malformed`, `wrong_lock`) when the report is out of shape or
 * is not the delivering lock's.
 */
export function peekReport(bytes: Uint8Array, lockId: string): PeekedReport {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_REPORT_BYTES) {
    throw new ProtocolError("malformed", `a report is a byte string of at most ${MAX_REPORT_BYTES} bytes`);
  }
  const envelope = decodeMac0Envelope(bytes, { maxBytes: MAX_REPORT_BYTES });
  const header = checkedHeader(envelope, lockId, peekedHeaders, PEEKED_HEADERS_MAX);
  if ("refused" in header) throw header.thrown ?? new ProtocolError(header.refused, header.message);
  try {
    const parsed = bodyOf(envelope.payload, header.lock);
    return parsed.body.kind === "event"
      ? { kind: "event", event: parsed.body.event, lock: header.lock, ctr: parsed.ctr }
      : { kind: "telemetry", telemetry: parsed.body.telemetry, lock: header.lock, ctr: parsed.ctr };
  } catch (e) {
    if (e instanceof WrongLock) throw new ProtocolError("wrong_lock", e.message);
    throw e;
  }
}

/**
 * The protected header each lock's last peeked report carried, by the delivering lock id (`checkedHeader`). A lock
 * seals every report under the same header (alg, key id, typ, its id) until the cloud's report key id changes, so a
 * courier peeking a stream of them decodes and checks the header once. Bounded (emptied when full).
 */
const peekedHeaders: ReportHeaderMemo = new Map();
const PEEKED_HEADERS_MAX = 1024;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

type HeaderRefusal = { refused: "malformed" | "wrong_lock"; message: string; thrown?: unknown };

/**
 * The envelope's protected header through the report's header rules and the delivering-lock check, for `openReport`
 * and `peekReport` alike. With a memo: bytes equal to a header that passed for this lock pass again (the checks are a
 * function of those bytes and an empty unprotected header), and a header that passes is kept (copies), emptying the
 * memo first when it holds `max` other locks. A refusal carries what a decoder threw (`thrown`), for a caller that
 * throws it on.
 */
function checkedHeader(
  envelope: Mac0Envelope,
  lockId: string,
  memo: ReportHeaderMemo | undefined,
  max = Number.POSITIVE_INFINITY,
): { kid: Uint8Array; lock: string } | HeaderRefusal {
  const known = memo?.get(lockId);
  if (known !== undefined && envelope.unprotectedHeader.size === 0 && sameBytes(known.bytes, envelope.protectedBytes))
    return known;
  let header: { kid: Uint8Array; lock: string } | string;
  try {
    header = headerOf({
      protectedHeader: decodeMac0Protected(envelope),
      unprotectedHeader: envelope.unprotectedHeader,
    });
  } catch (e) {
    return { refused: "malformed", message: isProtocolError(e) ? e.message : "not a COSE_Mac0", thrown: e };
  }
  if (typeof header === "string") return { refused: "malformed", message: header };
  if (header.lock !== lockId) {
    return { refused: "wrong_lock", message: `a report of lock "${header.lock}" delivered for lock "${lockId}"` };
  }
  if (memo !== undefined) {
    if (known === undefined && memo.size >= max) memo.clear();
    memo.set(lockId, {
      bytes: new Uint8Array(envelope.protectedBytes),
      kid: new Uint8Array(header.kid),
      lock: header.lock,
    });
  }
  return header;
}
