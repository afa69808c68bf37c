import {
  BATTERY_STATES,
  CborTag,
  type CborValue,
  COMMAND_TYPES,
  EVENT_TYPES,
  encodeCbor,
  encodeCommand,
  encodeEvent,
  encodeMac0,
  encodeTelemetry,
  LOCK_STATES,
  REPORT_TYP,
  type ReportBody,
  type SignedLockState,
  signLockState,
} from "@latchkey/protocol";
import fc from "fast-check";

/**
 * Malformed and oversized MQTT payloads for every message a lock or a bridge decodes. Each generator mixes raw bytes,
 * CBOR of the wrong shape, and messages that are valid but for one field (wrong type, out of range, extra field,
 * float, huge number), plus valid ones as controls; the test decides with protocol's decoder or verifier what each one
 * is. Events and telemetry travel as sealed reports, states as the authority's signed documents (docs/design.md
 * section 7).
 */

/** Any CBOR value our encoder writes: nested arrays and maps, tags, floats, big and negative numbers, bytes. */
export const anyCbor: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    fc.integer(),
    fc.double(),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.string({ maxLength: 20 }),
    fc.uint8Array({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("v"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie("v"), { maxKeys: 4 }),
    tie("v").map((v) => new CborTag(24, v as CborValue)),
  ),
})).v;

const encodeOr = (value: unknown): Uint8Array => {
  try {
    return encodeCbor(value);
  } catch {
    return Uint8Array.of(0xff);
  }
};

/** A field that is usually right and sometimes anything at all. */
const usually = <T>(right: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: right }, { weight: 1, arbitrary: anyCbor });

const common = (lockId: string) => ({
  raw: fc.uint8Array({ maxLength: 300 }),
  cbor: anyCbor.map(encodeOr),
  nested: fc.integer({ min: 17, max: 3000 }).map((n) => Uint8Array.from([...new Array(n).fill(0x81), 0x00])),
  /** A valid-looking map padded past the 4096-byte message limit. */
  oversized: fc.integer({ min: 4097, max: 70_000 }).map((n) => encodeOr({ lock: lockId, pad: "x".repeat(n) })),
});

type ReportKind = ReportBody["kind"];

/** A lock's own sealing of a message (its report key, its next counter): the honest courier's payload. */
export type HonestSealer = (kind: ReportKind, msg: Uint8Array) => Uint8Array;

/**
 * Everything the MAC'd envelope of a report is made of, so a test can build one around any message (docs/reports.md
 * "Envelope"): `sealReport` itself only seals messages that encode.
 */
export function macReport(options: {
  lockId: unknown;
  kind: unknown;
  msg: unknown;
  ctr: unknown;
  key: Uint8Array;
  kid?: Uint8Array;
}): Uint8Array {
  const protectedHeader = new Map<string | number, unknown>([
    [1, 5],
    [4, options.kid ?? Uint8Array.of(1)],
    [16, REPORT_TYP],
    ["lock", options.lockId],
  ]);
  const payload = encodeOr({ ctr: options.ctr, kind: options.kind, msg: options.msg });
  try {
    return encodeMac0({ protectedHeader: protectedHeader as never, payload, key: options.key });
  } catch {
    return Uint8Array.of(0xd1);
  }
}

/** An event message a lock could write: usually right, one field sometimes anything. */
function eventMessages(lockId: string): fc.Arbitrary<Uint8Array> {
  const fields = fc.record(
    {
      id: usually(fc.uint8Array({ minLength: 16, maxLength: 16 })),
      lock: fc.oneof({ weight: 6, arbitrary: fc.constant(lockId) }, { weight: 1, arbitrary: anyCbor }),
      seq: usually(fc.nat({ max: 1_000_000 })),
      ts: usually(fc.integer({ min: 1_700_000_000, max: 1_900_000_000 })),
      type: usually(fc.constantFrom(...EVENT_TYPES)),
      key: usually(fc.uint8Array({ minLength: 16, maxLength: 16 })),
      code: usually(fc.string({ minLength: 1, maxLength: 70 })),
      dropped: usually(fc.nat({ max: 300 })),
      v: usually(fc.nat({ max: 1000 })),
      extra: anyCbor,
    },
    { requiredKeys: ["id", "lock", "seq", "ts", "type"] },
  );
  const valid = fc.record({
    id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    seq: fc.integer({ min: 1, max: 1_000_000 }),
    type: fc.constantFrom(...EVENT_TYPES),
  });
  return fieldsOrValid(
    fields,
    valid.map((e) => encodeEvent({ ...e, lock: lockId, ts: 1_800_000_000 })),
  );
}

/** Five times in seven the fuzzed `fields` encoded as they come, else a `valid` message. */
function fieldsOrValid(fields: fc.Arbitrary<unknown>, valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof({ weight: 5, arbitrary: fields.map(encodeOr) }, { weight: 2, arbitrary: valid });
}

/** A telemetry message a lock could write: usually right, one field sometimes anything. */
function telemetryMessages(lockId: string): fc.Arbitrary<Uint8Array> {
  const fields = fc.record(
    {
      lock: fc.oneof({ weight: 6, arbitrary: fc.constant(lockId) }, { weight: 1, arbitrary: anyCbor }),
      ts: usually(fc.integer({ min: 1_700_000_000, max: 1_900_000_000 })),
      level: usually(fc.integer({ min: -5, max: 105 })),
      mv: usually(fc.integer({ min: -1, max: 100_001 })),
      state: usually(fc.constantFrom(...BATTERY_STATES)),
      v: usually(fc.nat()),
      dropped: usually(fc.nat()),
      extra: anyCbor,
    },
    { requiredKeys: ["lock", "ts", "level", "mv", "state"] },
  );
  const valid = fc.record({
    level: fc.integer({ min: 0, max: 100 }),
    mv: fc.integer({ min: 2000, max: 3300 }),
    state: fc.constantFrom(...BATTERY_STATES),
  });
  return fieldsOrValid(
    fields,
    valid.map((t) => encodeTelemetry({ ...t, lock: lockId, ts: 1_800_000_000 })),
  );
}

/**
 * What a lock publishes on `events` or `telemetry`: a sealed report (docs/reports.md). Each sample is a thunk, so the
 * honest ones take the lock's counters in the order they are sent. Mostly the lock's own sealing of a fuzzed message
 * (valid or not), then reports under a key that is not the lock's (they look whole to a courier, the cloud refuses
 * them as forged), relabelled for another lock, with a fuzzed envelope, and raw bytes, CBOR, deep nesting and
 * oversize.
 */
export function reportPayloads(
  lockId: string,
  kind: ReportKind,
  seal: HonestSealer,
  kid: Uint8Array,
): fc.Arbitrary<() => Uint8Array> {
  const messages = kind === "event" ? eventMessages(lockId) : telemetryMessages(lockId);
  const c = common(lockId);
  const raw = (a: fc.Arbitrary<Uint8Array>) => a.map((bytes) => () => bytes);
  return fc.oneof(
    { weight: 8, arbitrary: messages.map((msg) => () => seal(kind, msg)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(messages, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 1, max: 2 ** 40 }))
        .map(
          ([msg, key, ctr]) =>
            () =>
              macReport({ lockId, kind, msg, ctr, key, kid }),
        ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(messages, fc.constantFrom("door-1", `${lockId}-2`, lockId.toUpperCase())).map(
        ([msg, other]) =>
          () =>
            macReport({ lockId: other, kind, msg, ctr: 1, key: new Uint8Array(32), kid }),
      ),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          lockId: usually(fc.constant(lockId)),
          kind: usually(fc.constant(kind)),
          ctr: usually(fc.nat()),
          kid: fc.oneof(fc.constant(kid), fc.uint8Array({ minLength: 1, maxLength: 40 })),
        })
        .chain((h) => messages.map((msg) => () => macReport({ ...h, msg, key: new Uint8Array(32) }))),
    },
    { weight: 1, arbitrary: raw(c.raw) },
    { weight: 1, arbitrary: raw(c.cbor) },
    { weight: 1, arbitrary: raw(c.nested) },
    { weight: 1, arbitrary: raw(c.oversized) },
  );
}

/** What a lock publishes on `status` (UTF-8 text). */
export function statusPayloads(): fc.Arbitrary<Uint8Array> {
  const text = (s: string) => new TextEncoder().encode(s);
  return fc.oneof(
    fc.constantFrom("online", "offline", "ONLINE", " online", "online\n", "", "onlin", "offline\u0000").map(text),
    fc.string({ maxLength: 30 }).map(text),
    fc.uint8Array({ maxLength: 100 }),
    fc.integer({ min: 4097, max: 200_000 }).map((n) => text("o".repeat(n))),
  );
}

/** What a lock publishes on `time/request` (issue 13, docs/trust.md): `{1: lock, 2: nonce (16 bytes)}`. */
export function timeRequestPayloads(lockId: string): fc.Arbitrary<Uint8Array> {
  const c = common(lockId);
  const fields = fc.record(
    {
      lock: fc.oneof({ weight: 6, arbitrary: fc.constant(lockId) }, { weight: 1, arbitrary: anyCbor }),
      nonce: usually(fc.uint8Array({ minLength: 16, maxLength: 16 })),
      extra: anyCbor,
    },
    { requiredKeys: [] },
  );
  const labelled = fields.map((f) => {
    const map = new Map<number, unknown>();
    if ("lock" in f) map.set(1, f.lock);
    if ("nonce" in f) map.set(2, f.nonce);
    if ("extra" in f) map.set(3, f.extra);
    return encodeOr(map);
  });
  return fc.oneof({ weight: 5, arbitrary: labelled }, c.raw, c.cbor, c.nested, c.oversized);
}

/** What a lock publishes on `cmd/result`. */
export function commandResultPayloads(): fc.Arbitrary<Uint8Array> {
  const fields = fc.record(
    {
      id: usually(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/)),
      ok: usually(fc.boolean()),
      code: usually(fc.string({ maxLength: 70 })),
      message: usually(fc.string({ maxLength: 600 })),
      nonce: usually(fc.uint8Array({ minLength: 16, maxLength: 16 })),
      state: usually(fc.constantFrom(...LOCK_STATES)),
      v: usually(fc.nat()),
      events: usually(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 })),
      extra: anyCbor,
    },
    { requiredKeys: ["id", "ok"] },
  );
  return fc.oneof(
    { weight: 4, arbitrary: fields.map(encodeOr) },
    fc.uint8Array({ maxLength: 300 }),
    anyCbor.map(encodeOr),
  );
}

/**
 * What the bridge relays to a lock on `state` (docs/trust.md "Lock state"): the authority's genuine states (`genuine`,
 * in any order: a lock applies only a newer `v`), each one cut, with a byte flipped or bytes appended, re-signed by
 * `attacker` (with its fields kept or changed), naming another lock; the same authority's genuine states for another
 * lock (`foreign`); raw bytes, CBOR, deep nesting, oversize.
 */
export function statePayloads(
  lockId: string,
  genuine: readonly Uint8Array[],
  foreign: readonly Uint8Array[],
  attacker: Uint8Array,
  template: SignedLockState,
): fc.Arbitrary<Uint8Array> {
  const real = fc.constantFrom(...genuine);
  const forged = fc
    .record({
      lock: fc.oneof({ weight: 4, arbitrary: fc.constant(lockId) }, { weight: 1, arbitrary: fc.constant("door-1") }),
      v: fc.oneof(fc.constant(Number.MAX_SAFE_INTEGER), fc.integer({ min: 1, max: 2 ** 50 })),
      ack: fc.nat({ max: 1_000_000 }),
    })
    .map((f) => {
      try {
        return signLockState({ ...template, ...f }, { secretKey: attacker });
      } catch {
        return Uint8Array.of(0xd2);
      }
    });
  const c = common(lockId);
  return fc.oneof(
    { weight: 3, arbitrary: real },
    {
      weight: 3,
      arbitrary: fc
        .tuple(real, fc.nat(), fc.integer({ min: 1, max: 255 }))
        .map(([doc, at, x]) => doc.map((b, i) => (i === at % doc.length ? b ^ x : b))),
    },
    { weight: 1, arbitrary: fc.tuple(real, fc.nat()).map(([doc, at]) => doc.subarray(0, at % doc.length)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(real, fc.uint8Array({ minLength: 1, maxLength: 8 }))
        .map(([doc, tail]) => Uint8Array.from([...doc, ...tail])),
    },
    { weight: 3, arbitrary: forged },
    { weight: 2, arbitrary: fc.constantFrom(...foreign) },
    c.raw,
    c.cbor,
    c.nested,
    fc
      .integer({ min: 3585, max: 70_000 })
      .map((n) => encodeOr(new CborTag(18, [new Uint8Array(n), new Map(), null, null]))),
  );
}

/** What the bridge publishes to a lock on `cmd`. */
export function commandPayloads(): fc.Arbitrary<Uint8Array> {
  const fields = fc.record(
    {
      id: usually(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/)),
      type: usually(fc.constantFrom(...COMMAND_TYPES)),
      token: usually(fc.uint8Array({ maxLength: 300 })),
      proof: usually(fc.uint8Array({ minLength: 64, maxLength: 64 })),
      nonce: usually(fc.uint8Array({ minLength: 16, maxLength: 16 })),
      doc: usually(fc.uint8Array({ maxLength: 100 })),
      answer: usually(fc.uint8Array({ maxLength: 100 })),
      command: usually(fc.uint8Array({ maxLength: 100 })),
      after: usually(fc.integer({ min: -1, max: 50 })),
      extra: anyCbor,
    },
    { requiredKeys: ["id", "type"] },
  );
  return fc.oneof(
    { weight: 4, arbitrary: fields.map(encodeOr) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom("challenge" as const, "ping" as const, "lock" as const, "command_nonce" as const),
          fc.nat({ max: 9999 }),
        )
        .map(([type, n]) => encodeCommand({ id: `valid-${n}`, type })),
    },
    fc.uint8Array({ maxLength: 300 }),
    anyCbor.map(encodeOr),
    fc
      .integer({ min: 4097, max: 200_000 })
      .map((n) => encodeOr({ id: "big", type: "unlock", token: new Uint8Array(n) })),
  );
}

/** Samples a generator with a seed: the same payloads on every run. */
export const sample = <T>(arbitrary: fc.Arbitrary<T>, count: number, seed: number): T[] =>
  fc.sample(arbitrary, { numRuns: count, seed });
