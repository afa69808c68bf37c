import {
  BATTERY_STATES,
  CborTag,
  type CborValue,
  COMMAND_TYPES,
  EVENT_TYPES,
  encodeCbor,
  encodeCommand,
  encodeEvent,
  encodeSync,
  encodeTelemetry,
  LOCK_STATES,
} from "@latchkey/protocol";
import fc from "fast-check";

/**
 * Malformed and oversized MQTT payloads for every message a lock or a bridge decodes. Each generator mixes raw bytes,
 * CBOR of the wrong shape, and messages that are valid but for one field (wrong type, out of range, extra field,
 * float, huge number), plus valid ones as controls; the test decides with protocol's decoder what each one is.
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

/** What a lock publishes on `events`. */
export function eventPayloads(lockId: string): fc.Arbitrary<Uint8Array> {
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
  const c = common(lockId);
  return fc.oneof(
    { weight: 5, arbitrary: fields.map(encodeOr) },
    {
      weight: 2,
      arbitrary: fc
        .record({
          id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          seq: fc.nat({ max: 1_000_000 }),
          type: fc.constantFrom(...EVENT_TYPES),
        })
        .map((e) => encodeEvent({ ...e, lock: lockId, ts: 1_800_000_000 })),
    },
    { weight: 1, arbitrary: c.raw },
    { weight: 1, arbitrary: c.cbor },
    { weight: 1, arbitrary: c.nested },
    { weight: 1, arbitrary: c.oversized },
  );
}

/** What a lock publishes on `telemetry`. */
export function telemetryPayloads(lockId: string): fc.Arbitrary<Uint8Array> {
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
  const c = common(lockId);
  return fc.oneof(
    { weight: 5, arbitrary: fields.map(encodeOr) },
    {
      weight: 2,
      arbitrary: fc
        .record({
          level: fc.integer({ min: 0, max: 100 }),
          mv: fc.integer({ min: 2000, max: 3300 }),
          state: fc.constantFrom(...BATTERY_STATES),
        })
        .map((t) => encodeTelemetry({ ...t, lock: lockId, ts: 1_800_000_000 })),
    },
    { weight: 1, arbitrary: c.raw },
    { weight: 1, arbitrary: c.cbor },
    { weight: 1, arbitrary: c.oversized },
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

/** What the bridge publishes to a lock on `sync`. */
export function syncPayloads(): fc.Arbitrary<Uint8Array> {
  const issuer = fc.record({
    kid: usually(fc.uint8Array({ minLength: 1, maxLength: 70 })),
    x: usually(fc.uint8Array({ minLength: 32, maxLength: 32 })),
  });
  const fields = fc.record(
    {
      v: usually(fc.nat({ max: 1_000_000 })),
      issuers: usually(
        fc.array(
          issuer.map((i) => i as unknown),
          { maxLength: 4 },
        ),
      ),
      grants: usually(
        fc.array(
          fc.record({
            cti: usually(fc.uint8Array({ minLength: 16, maxLength: 16 })),
            sub: usually(fc.string({ maxLength: 20 })),
            nbf: usually(fc.nat()),
            exp: usually(fc.nat()),
          }),
          { maxLength: 4 },
        ),
      ),
      revoked: usually(fc.array(usually(fc.uint8Array({ minLength: 16, maxLength: 16 })), { maxLength: 4 })),
      time: usually(fc.integer({ min: 1_700_000_000, max: 1_900_000_000 })),
      extra: anyCbor,
    },
    { requiredKeys: ["v", "issuers", "revoked", "time"] },
  );
  return fc.oneof(
    { weight: 4, arbitrary: fields.map(encodeOr) },
    {
      weight: 1,
      arbitrary: fc
        .record({ v: fc.nat({ max: 1_000_000 }), x: fc.uint8Array({ minLength: 32, maxLength: 32 }) })
        .map((s) =>
          encodeSync({ v: s.v, issuers: [{ kid: Uint8Array.of(1), x: s.x }], revoked: [], time: 1_800_000_000 }),
        ),
    },
    fc.uint8Array({ maxLength: 300 }),
    anyCbor.map(encodeOr),
    fc.integer({ min: 17, max: 2000 }).map((n) => Uint8Array.from([...new Array(n).fill(0x81), 0x00])),
    fc.integer({ min: 70_000, max: 300_000 }).map((n) => encodeOr({ v: 1, pad: new Uint8Array(n) })),
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
      sync: usually(fc.uint8Array({ maxLength: 100 })),
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
        .tuple(fc.constantFrom("challenge" as const, "ping" as const, "lock" as const), fc.nat({ max: 9999 }))
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
export const sample = (arbitrary: fc.Arbitrary<Uint8Array>, count: number, seed: number): Uint8Array[] =>
  fc.sample(arbitrary, { numRuns: count, seed });
