import { createHash } from "node:crypto";
import {
  CborTag,
  decodeMac0,
  deriveReportKey,
  encodeCbor,
  encodeEvent,
  encodeMac0,
  encodeTelemetry,
  fromHex,
  hkdfSha256,
  type LockEvent,
  REPORT_TYP,
  type ReportVerdictCode,
  reportKeyInfo,
  sealReport,
  signKeyToken,
  signSign1,
  x25519KeyPairFromSeed,
} from "../../src/index.js";

/**
 * A corpus of hostile lock reports (docs/reports.md), each with the verdict the cloud must answer. Built by what a
 * courier (bridge, broker, LAN) can do: reorder, replay, cut, flip bytes, relabel, swap headers, re-MAC under every key
 * it could know (the printed claim secret, a low-order peer key, another lock's key), and pass other documents off as
 * reports. The genuine items are sealed with the lock's real report key.
 */

const seed = (label: string) => new Uint8Array(createHash("sha256").update(`hostile-reports/${label}`).digest());

export const LOCK_A = "lock-a";
export const LOCK_B = "lock-b";
export const KID = fromHex("72707431");
export const OTHER_KID = fromHex("72707432");
export const CLOUD = x25519KeyPairFromSeed(seed("cloud report key"));
export const LOCK_A_X = x25519KeyPairFromSeed(seed("lock a x25519"));
export const LOCK_B_X = x25519KeyPairFromSeed(seed("lock b x25519"));
/** The 128-bit claim secret printed on lock A's label: anyone near the lock can read it. */
export const CLAIM_SECRET_A = seed("claim secret a").subarray(0, 16);
export const ISSUER_SEED = seed("issuer");
/** Highest counter the cloud has accepted from lock A before the corpus is judged. */
export const HIGHEST_A = 10;

export const reportKey = (lockId: string, pair: { privateKey: Uint8Array }, kid = KID) =>
  deriveReportKey({ lockPrivate: pair.privateKey, peerPublic: CLOUD.publicKey, lockId, cloudKeyId: kid });
export const KEY_A = reportKey(LOCK_A, LOCK_A_X);
export const KEY_B = reportKey(LOCK_B, LOCK_B_X);

export const event = (lock: string, seq: number, over: Partial<LockEvent> = {}): LockEvent => ({
  id: seed(`event ${lock} ${seq}`).subarray(0, 16),
  lock,
  seq,
  ts: 1_800_000_000 + seq,
  type: "unlocked",
  key: seed("cti").subarray(0, 16),
  ...over,
});

export const sealA = (ctr: number, over: Partial<LockEvent> = {}, key = KEY_A, kid = KID) =>
  sealReport({ kind: "event", event: event(LOCK_A, ctr, over), key, cloudKeyId: kid, ctr });

const header = (over: Array<[number | string, unknown]> = [], drop: Array<number | string> = []) => {
  const h = new Map<number | string, unknown>([
    [1, 5],
    [4, KID],
    [16, REPORT_TYP],
    ["lock", LOCK_A],
  ]);
  for (const [k, v] of over) h.set(k, v);
  for (const k of drop) h.delete(k);
  return h as never;
};
const payload = (ctr: number, msg = encodeEvent(event(LOCK_A, ctr))) => encodeCbor({ ctr, kind: "event", msg });
const mac = (h: never, p: Uint8Array, key: Uint8Array) => encodeMac0({ protectedHeader: h, payload: p, key });

export interface HostileReport {
  name: string;
  /** The lock the courier delivers it for. */
  lockId: string;
  bytes: Uint8Array;
  expected: Exclude<ReportVerdictCode, "ok">;
}

export function hostileReports(): HostileReport[] {
  const genuine = sealA(HIGHEST_A + 1);
  const out: HostileReport[] = [];
  const add = (name: string, bytes: Uint8Array, expected: HostileReport["expected"], lockId = LOCK_A) =>
    out.push({ name, lockId, bytes, expected });

  // Keys a courier could know or make.
  const claimKey = hkdfSha256(
    CLAIM_SECRET_A,
    new Uint8Array(0),
    reportKeyInfo({ lockId: LOCK_A, cloudKeyId: KID }, LOCK_A_X.publicKey, CLOUD.publicKey),
    32,
  );
  // A courier that swapped a low-order point in for the cloud's key would know the shared secret: all zeros.
  const zeroKey = hkdfSha256(
    new Uint8Array(32),
    new Uint8Array(0),
    reportKeyInfo({ lockId: LOCK_A, cloudKeyId: KID }, LOCK_A_X.publicKey, new Uint8Array(32)),
    32,
  );
  const courierKey = x25519KeyPairFromSeed(seed("courier x25519"));
  const courierReportKey = deriveReportKey({
    lockPrivate: courierKey.privateKey,
    peerPublic: CLOUD.publicKey,
    lockId: LOCK_A,
    cloudKeyId: KID,
  });

  add("re-MACed under a key from the printed claim secret", sealA(HIGHEST_A + 1, {}, claimKey), "forged");
  add("re-MACed under the all-zero low-order secret's key", sealA(HIGHEST_A + 1, {}, zeroKey), "forged");
  add("re-MACed under a courier's own X25519 key", sealA(HIGHEST_A + 1, {}, courierReportKey), "forged");
  add("re-MACed under lock B's key, naming lock A", sealA(HIGHEST_A + 1, {}, KEY_B), "forged");
  add("MACed under the all-zero key", sealA(HIGHEST_A + 1, {}, new Uint8Array(32)), "forged");
  add("lock B's genuine report delivered as lock A's", reportB(1), "wrong_lock");
  add("lock A's genuine report delivered as lock B's", genuine, "wrong_lock", LOCK_B);
  add("lock A's MAC with the header relabelled to lock B", relabel(genuine, LOCK_B), "forged", LOCK_B);
  add(
    "an event of lock B under lock A's own MAC",
    mac(header(), payload(11, encodeEvent(event(LOCK_B, 11))), KEY_A),
    "wrong_lock",
  );
  add("the report at the highest accepted counter", sealA(HIGHEST_A), "replayed");
  add("an old report", sealA(1), "replayed");
  add("a kid the cloud never had", sealA(HIGHEST_A + 1, {}, KEY_A, fromHex("ffffffff")), "unknown_key");
  add("a kid of another cloud key, MACed under lock A's key", sealA(HIGHEST_A + 1, {}, KEY_A, OTHER_KID), "forged");

  const m = splitMac0(genuine);
  const rebuild = (parts: { protectedBytes?: Uint8Array; unprotected?: Map<unknown, unknown>; tag?: Uint8Array }) =>
    encodeCbor(
      new CborTag(17, [
        parts.protectedBytes ?? m.protectedBytes,
        parts.unprotected ?? new Map(),
        m.payload,
        parts.tag ?? m.tag,
      ] as never),
    );
  add("a tag of zeros", rebuild({ tag: new Uint8Array(32) }), "forged");
  add("a tag cut to 16 bytes", rebuild({ tag: m.tag.subarray(0, 16) }), "forged");
  add("an empty tag", rebuild({ tag: new Uint8Array(0) }), "forged");
  add("a 64-byte tag (a signature's length)", rebuild({ tag: new Uint8Array(64).fill(1) }), "forged");
  add("a payload swapped for another genuine one's", swapPayload(genuine, sealA(HIGHEST_A + 2)), "forged");
  add("the counter raised in the payload", swapPayload(genuine, payload(2 ** 52)), "forged");
  add("the kid moved to the unprotected header", rebuild({ unprotected: new Map([[4, KID]]) }), "malformed");
  add("a lock id in the unprotected header", rebuild({ unprotected: new Map([["lock", LOCK_B]]) }), "malformed");
  add("an IV in the unprotected header", rebuild({ unprotected: new Map([[5, new Uint8Array(12)]]) }), "malformed");
  add("untagged", encodeCbor([m.protectedBytes, new Map(), m.payload, m.tag] as never), "malformed");
  add(
    "CWT tag 61 around it",
    encodeCbor(new CborTag(61, new CborTag(17, [m.protectedBytes, new Map(), m.payload, m.tag] as never))),
    "malformed",
  );
  add(
    "tag 18 (COSE_Sign1) around a Mac0 body",
    encodeCbor(new CborTag(18, [m.protectedBytes, new Map(), m.payload, m.tag] as never)),
    "malformed",
  );
  add(
    "tag 17 around tag 17",
    encodeCbor(new CborTag(17, new CborTag(17, [m.protectedBytes, new Map(), m.payload, m.tag] as never))),
    "malformed",
  );
  add(
    "detached payload (null)",
    encodeCbor(new CborTag(17, [m.protectedBytes, new Map(), null, m.tag] as never)),
    "malformed",
  );
  add(
    "empty protected header",
    encodeCbor(new CborTag(17, [new Uint8Array(0), new Map(), m.payload, m.tag] as never)),
    "malformed",
  );
  add("alg HMAC 256/64 (4), re-MACed by lock A's key", mac(header([[1, 4]]), payload(11), KEY_A), "malformed");
  add("alg EdDSA (-8)", mac(header([[1, -8]]), payload(11), KEY_A), "malformed");
  add("no alg", mac(header([], [1]), payload(11), KEY_A), "malformed");
  add("no typ", mac(header([], [16]), payload(11), KEY_A), "malformed");
  add("the key token typ", mac(header([[16, "application/latchkey-key+cwt"]]), payload(11), KEY_A), "malformed");
  add("a signed state's typ", mac(header([[16, "application/latchkey-state+cose"]]), payload(11), KEY_A), "malformed");
  add("a crit label", mac(header([[2, [16]]]), payload(11), KEY_A), "malformed");
  add("no lock header", mac(header([], ["lock"]), payload(11), KEY_A), "malformed");
  add("no kid", mac(header([], [4]), payload(11), KEY_A), "malformed");
  add("a 33-byte kid", mac(header([[4, new Uint8Array(33)]]), payload(11), KEY_A), "malformed");
  add("a lock header with an MQTT wildcard", mac(header([["lock", "lock-a/#"]]), payload(11), KEY_A), "malformed");
  add("counter 0", mac(header(), payload(0), KEY_A), "malformed");
  add(
    "counter 2^64 - 1",
    mac(header(), encodeCbor({ ctr: 2n ** 64n - 1n, kind: "event", msg: encodeEvent(event(LOCK_A, 1)) }), KEY_A),
    "malformed",
  );
  add(
    "a negative counter",
    mac(header(), encodeCbor({ ctr: -5, kind: "event", msg: encodeEvent(event(LOCK_A, 1)) }), KEY_A),
    "malformed",
  );
  add(
    "telemetry bytes labelled as an event",
    mac(header(), encodeCbor({ ctr: 11, kind: "event", msg: encodeTelemetry(telemetryA()) }), KEY_A),
    "malformed",
  );
  add(
    "an unknown kind",
    mac(header(), encodeCbor({ ctr: 11, kind: "status", msg: encodeEvent(event(LOCK_A, 11)) }), KEY_A),
    "malformed",
  );
  add("the bare event as payload", mac(header(), encodeEvent(event(LOCK_A, 11)), KEY_A), "malformed");
  add("a float counter", mac(header(), floatCounterPayload(), KEY_A), "malformed");
  add("a key token", signKeyToken(tokenClaims(), { kid: KID, secretKey: ISSUER_SEED }), "malformed");
  add(
    "a signed state document",
    signSign1({
      protectedHeader: new Map<number, string | number>([
        [1, -8],
        [16, "application/latchkey-state+cose"],
      ]),
      payload: encodeCbor({ lock: LOCK_A, v: 7, ack: 99 }),
      secretKey: ISSUER_SEED,
    }),
    "malformed",
  );
  add(
    "a COSE_Sign1 with the report header, signed",
    signSign1({ protectedHeader: header([[1, -8]]) as never, payload: payload(11), secretKey: ISSUER_SEED }),
    "malformed",
  );
  add("the unsealed event", encodeEvent(event(LOCK_A, 11)), "malformed");
  add("the unsealed telemetry", encodeTelemetry(telemetryA()), "malformed");
  add("nothing", new Uint8Array(0), "malformed");
  add("one byte past the size cap", new Uint8Array(4353).fill(0x40), "malformed");
  add("nested arrays 10,000 deep", new Uint8Array(10_000).fill(0x81), "malformed");
  add("an indefinite-length array", Uint8Array.of(0xd1, 0x9f, 0xff), "malformed");
  add("genuine with a trailing byte", Uint8Array.from([...genuine, 0]), "malformed");
  return out;
}

function telemetryA() {
  return { lock: LOCK_A, ts: 1_800_000_000, level: 60, mv: 2950, state: "ok" as const };
}

function tokenClaims() {
  return {
    iss: "latchkey",
    sub: "+4790000000",
    aud: LOCK_A,
    exp: 1_800_003_600,
    nbf: 1_800_000_000,
    iat: 1_800_000_000,
    cti: new Uint8Array(16).fill(1),
    cnf: new Uint8Array(32).fill(2),
  };
}

function floatCounterPayload(): Uint8Array {
  // {"ctr": 11.5, ...} by hand: our encoder writes no floats.
  const rest = encodeCbor({ kind: "event", msg: encodeEvent(event(LOCK_A, 11)) });
  return Uint8Array.from([0xa3, 0x63, 0x63, 0x74, 0x72, 0xfb, 0x40, 0x27, 0, 0, 0, 0, 0, 0, ...rest.subarray(1)]);
}

export function reportB(ctr: number): Uint8Array {
  return sealReport({ kind: "event", event: event(LOCK_B, ctr), key: KEY_B, cloudKeyId: KID, ctr });
}

const splitMac0 = (bytes: Uint8Array) => decodeMac0(bytes);

function swapPayload(bytes: Uint8Array, other: Uint8Array): Uint8Array {
  const m = splitMac0(bytes);
  const p = other[0] === 0xd1 ? splitMac0(other).payload : other;
  return encodeCbor(new CborTag(17, [m.protectedBytes, new Map(), p, m.tag] as never));
}

function relabel(bytes: Uint8Array, lock: string): Uint8Array {
  const m = splitMac0(bytes);
  const h = encodeCbor(header([["lock", lock]]));
  return encodeCbor(new CborTag(17, [h, new Map(), m.payload, m.tag] as never));
}
