import { MacAlgorithms, Mac0 as TheirMac0, UnprotectedHeaders } from "@auth0/cose";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CborTag,
  decodeMac0,
  decodeSign1,
  deriveReportKey,
  EVENT_TYPES,
  encodeCbor,
  encodeEvent,
  encodeMac0,
  encodeTelemetry,
  fromHex,
  type LockEvent,
  MAX_REPORT_BYTES,
  openReport,
  peekReport,
  REPORT_TYP,
  type ReportHeaderMemo,
  type ReportKeyLookup,
  type ReportVerdict,
  sealReport,
  signSign1,
  type Telemetry,
  toHex,
  verifyKeyToken,
  x25519KeyPairFromSeed,
} from "../src/index.js";
import { issuer, NOW, seed, token, trust } from "./helpers.js";

const cloud = x25519KeyPairFromSeed(seed("cloud report key"));
const lockA = x25519KeyPairFromSeed(seed("lock A x25519"));
const lockB = x25519KeyPairFromSeed(seed("lock B x25519"));
const kid = fromHex("c0c1c2c3");
const lockKey = (id: string, pair: { privateKey: Uint8Array }) =>
  deriveReportKey({ lockPrivate: pair.privateKey, peerPublic: cloud.publicKey, lockId: id, cloudKeyId: kid });
const keyA = lockKey("lock-a", lockA);
const keyB = lockKey("lock-b", lockB);
// The cloud's side: derived from its own private key and each lock's public key, as a cloud would.
const cloudKeys = new Map([
  [
    "lock-a",
    deriveReportKey({ cloudPrivate: cloud.privateKey, peerPublic: lockA.publicKey, lockId: "lock-a", cloudKeyId: kid }),
  ],
  [
    "lock-b",
    deriveReportKey({ cloudPrivate: cloud.privateKey, peerPublic: lockB.publicKey, lockId: "lock-b", cloudKeyId: kid }),
  ],
]);
const keys: ReportKeyLookup = (lockId, k) => (toHex(k) === toHex(kid) ? cloudKeys.get(lockId) : undefined);

const event = (over: Partial<LockEvent> = {}): LockEvent => ({
  id: new Uint8Array(16).fill(7),
  lock: "lock-a",
  seq: 12,
  ts: 1_800_000_000,
  type: "unlocked",
  key: new Uint8Array(16).fill(9),
  ...over,
});
const telemetry = (over: Partial<Telemetry> = {}): Telemetry => ({
  lock: "lock-a",
  ts: 1_800_000_100,
  level: 80,
  mv: 3000,
  state: "ok",
  ...over,
});
const sealEvent = (ctr: number, over: Partial<LockEvent> = {}, key = keyA) =>
  sealReport({ kind: "event", event: event(over), key, cloudKeyId: kid, ctr });

const open = (bytes: Uint8Array, lockId = "lock-a", highestCounter?: number): ReportVerdict =>
  openReport(bytes, highestCounter === undefined ? { lockId, keys } : { lockId, keys, highestCounter });

/** A genuine report changed at random: one byte flipped, cut, extended, and delivered for either lock. */
function changedReports(genuine: Uint8Array) {
  return fc
    .tuple(
      fc.nat(genuine.length - 1),
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: 4 }),
      fc.integer({ min: 1, max: genuine.length }),
      fc.constantFrom("lock-a", "lock-b"),
    )
    .map(([at, xor, tail, cut, lockId]) => {
      const changed = new Uint8Array([...genuine.subarray(0, cut), ...tail]);
      if (at < changed.length) changed[at]! ^= xor;
      return { changed, lockId };
    });
}

describe("sealReport / openReport round trip", () => {
  it("an event comes back whole, with its counter and key id", () => {
    const verdict = open(sealEvent(5), "lock-a", 4);
    expect(verdict).toMatchObject({ ok: true, verdict: "ok", report: { kind: "event", lock: "lock-a", ctr: 5 } });
    if (!verdict.ok || verdict.report.kind !== "event") throw new Error("unreachable");
    expect(toHex(encodeEvent(verdict.report.event))).toBe(toHex(encodeEvent(event())));
    expect(toHex(verdict.report.kid)).toBe(toHex(kid));
  });

  it("telemetry carries the counter too", () => {
    const bytes = sealReport({ kind: "telemetry", telemetry: telemetry({ v: 3 }), key: keyA, cloudKeyId: kid, ctr: 6 });
    const verdict = open(bytes, "lock-a", 5);
    expect(verdict).toMatchObject({ ok: true, report: { kind: "telemetry", ctr: 6, telemetry: { level: 80, v: 3 } } });
  });

  it("the envelope is a tagged COSE_Mac0 with alg 5, the key id, the report typ and the lock id protected", () => {
    const m = decodeMac0(sealEvent(1));
    expect([...m.protectedHeader.entries()]).toEqual([
      [1, 5],
      [4, kid],
      [16, "application/latchkey-report+cose"],
      ["lock", "lock-a"],
    ]);
    expect(m.unprotectedHeader.size).toBe(0);
    expect(m.tag).toHaveLength(32);
  });

  it("sealing refuses a bad counter, key or key id", () => {
    expect(() => sealEvent(0)).toThrow(expect.objectContaining({ code: "invalid_message" }));
    expect(() => sealEvent(1.5)).toThrow(expect.objectContaining({ code: "invalid_message" }));
    expect(() => sealEvent(1, {}, new Uint8Array(16))).toThrow(expect.objectContaining({ code: "invalid_message" }));
    expect(() =>
      sealReport({ kind: "event", event: event(), key: keyA, cloudKeyId: new Uint8Array(0), ctr: 1 }),
    ).toThrow(expect.objectContaining({ code: "invalid_message" }));
  });
});

describe("every verdict", () => {
  it("ok", () => expect(open(sealEvent(3), "lock-a", 2).verdict).toBe("ok"));

  it("forged: a MAC under another key", () => {
    expect(open(sealEvent(3, {}, new Uint8Array(32).fill(1)))).toMatchObject({ ok: false, verdict: "forged" });
  });

  it("forged: the payload altered after sealing", () => {
    const m = decodeMac0(sealEvent(3));
    const payload = encodeCbor({ ctr: 3, kind: "event", msg: encodeEvent(event({ type: "locked" })) });
    const altered = encodeCbor(new CborTag(17, [m.protectedBytes, new Map(), payload, m.tag]));
    expect(open(altered)).toMatchObject({ verdict: "forged" });
  });

  it("wrong_lock: lock A's report delivered for lock B", () => {
    expect(open(sealEvent(3), "lock-b")).toMatchObject({ verdict: "wrong_lock" });
  });

  it("forged: lock B's MAC over a report naming lock A", () => {
    const bytes = sealReport({ kind: "event", event: event({ lock: "lock-a" }), key: keyB, cloudKeyId: kid, ctr: 3 });
    expect(open(bytes, "lock-a")).toMatchObject({ verdict: "forged" });
  });

  it("wrong_lock: an authentic report of lock B whose message names lock A", () => {
    const m = decodeMac0(sealEvent(3, { lock: "lock-a" }));
    const header = new Map<string | number, unknown>([
      [1, 5],
      [4, kid],
      [16, REPORT_TYP],
      ["lock", "lock-b"],
    ]);
    const crossed = encodeMac0({ protectedHeader: header as never, payload: m.payload, key: keyB });
    expect(open(crossed, "lock-b")).toMatchObject({ verdict: "wrong_lock" });
  });

  it("replayed: a counter not above the highest accepted", () => {
    expect(open(sealEvent(3), "lock-a", 3)).toMatchObject({ verdict: "replayed", ctr: 3 });
    expect(open(sealEvent(3), "lock-a", 9)).toMatchObject({ verdict: "replayed", ctr: 3 });
    expect(open(sealEvent(4), "lock-a", 3).verdict).toBe("ok");
  });

  it("unknown_key: a key id the cloud does not hold, or a lock it holds no key for", () => {
    const other = sealReport({ kind: "event", event: event(), key: keyA, cloudKeyId: fromHex("ffff"), ctr: 1 });
    expect(open(other)).toMatchObject({ verdict: "unknown_key" });
    const stranger = sealEvent(1, { lock: "lock-z" });
    expect(open(stranger, "lock-z")).toMatchObject({ verdict: "unknown_key" });
  });

  it("malformed: not CBOR, oversize, untagged, a bad header, a bad payload", () => {
    expect(open(new Uint8Array([0xff]))).toMatchObject({ verdict: "malformed" });
    expect(open(new Uint8Array(0))).toMatchObject({ verdict: "malformed" });
    expect(open(new Uint8Array(MAX_REPORT_BYTES + 1))).toMatchObject({ verdict: "malformed" });
    const m = decodeMac0(sealEvent(1));
    const body = [m.protectedBytes, new Map(), m.payload, m.tag];
    expect(open(encodeCbor(body))).toMatchObject({ verdict: "malformed" });
    expect(open(encodeCbor(new CborTag(17, [...body, new Uint8Array(0)])))).toMatchObject({ verdict: "malformed" });
    expect(
      open(encodeCbor(new CborTag(17, [m.protectedBytes, new Map([[5, new Uint8Array(12)]]), m.payload, m.tag]))),
    ).toMatchObject({
      verdict: "malformed",
    });
    // A payload that is not a report, properly MACed: refused after the MAC, as malformed.
    const header = new Map<string | number, unknown>([
      [1, 5],
      [4, kid],
      [16, REPORT_TYP],
      ["lock", "lock-a"],
    ]);
    for (const payload of [
      encodeCbor({ ctr: 0, kind: "event", msg: encodeEvent(event()) }),
      encodeCbor({ ctr: 1, kind: "status", msg: encodeEvent(event()) }),
      encodeCbor({ ctr: 1, kind: "telemetry", msg: encodeEvent(event()) }),
      encodeCbor({ ctr: 2 ** 64 - 1, kind: "event", msg: encodeEvent(event()) }),
      encodeCbor({ kind: "event", msg: encodeEvent(event()) }),
      encodeEvent(event()),
    ]) {
      expect(open(encodeMac0({ protectedHeader: header as never, payload, key: keyA }))).toMatchObject({
        verdict: "malformed",
      });
    }
    // Other algorithms, even with a tag that verifies, and extra protected labels.
    for (const [label, value] of [
      [1, 4],
      [1, -8],
      [2, [4]],
      [3, "application/cbor"],
    ] as const) {
      const h = new Map<string | number, unknown>(header);
      h.set(label, value);
      expect(open(encodeMac0({ protectedHeader: h as never, payload: m.payload, key: keyA }))).toMatchObject({
        verdict: "malformed",
      });
    }
  });
});

describe("type confusion", () => {
  it("a key token (COSE_Sign1, tag 18) is not a report", () => {
    expect(open(token())).toMatchObject({ verdict: "malformed" });
  });

  it("a signed state (COSE_Sign1 by the authority) is not a report", () => {
    const state = signSign1({
      protectedHeader: new Map<number, string | number>([
        [1, -8],
        [16, "application/latchkey-state+cose"],
      ]),
      payload: encodeCbor({ lock: "lock-a", v: 7 }),
      secretKey: issuer.secretKey,
    });
    expect(open(state)).toMatchObject({ verdict: "malformed" });
  });

  it("a COSE_Mac0 under the right key but another typ is not a report", () => {
    const m = decodeMac0(sealEvent(1));
    for (const typ of ["application/latchkey-state+cose", "application/latchkey-key+cwt", undefined]) {
      const h = new Map<string | number, unknown>([
        [1, 5],
        [4, kid],
        ["lock", "lock-a"],
      ]);
      if (typ) h.set(16, typ);
      expect(open(encodeMac0({ protectedHeader: h as never, payload: m.payload, key: keyA }))).toMatchObject({
        verdict: "malformed",
      });
    }
  });

  it("a report is not a key token, nor any COSE_Sign1, at a lock", () => {
    const report = sealEvent(1);
    expect(verifyKeyToken(report, { trust, lockId: "lock-a", now: NOW })).toMatchObject({
      ok: false,
      code: "malformed",
    });
    expect(() => decodeSign1(report)).toThrow(expect.objectContaining({ code: "malformed" }));
    expect(() => decodeSign1(report, { allowUntagged: true })).toThrow(expect.objectContaining({ code: "malformed" }));
  });

  it("the unsealed event, telemetry and the legacy sync are not reports", () => {
    for (const bytes of [
      encodeEvent(event()),
      encodeTelemetry(telemetry()),
      // the shape of the unsigned sync of before docs/design.md section 7
      encodeCbor({ v: 1, issuers: [], revoked: [], time: 1_800_000_000 }),
    ]) {
      expect(open(bytes)).toMatchObject({ verdict: "malformed" });
    }
  });
});

describe("a courier's peek", () => {
  it("reads a report without its key, and refuses what openReport refuses before the MAC", () => {
    const bytes = sealEvent(7);
    expect(peekReport(bytes, "lock-a")).toMatchObject({ lock: "lock-a", ctr: 7, kind: "event" });
    expect(() => peekReport(bytes, "lock-b")).toThrow(expect.objectContaining({ code: "wrong_lock" }));
    expect(() => peekReport(encodeEvent(event()), "lock-a")).toThrow(expect.objectContaining({ code: "malformed" }));
  });

  /** What a peek answers: the report, or the refusal's code and message. */
  const peekOutcome = (bytes: Uint8Array, lockId: string) => {
    try {
      return { peeked: peekReport(bytes, lockId) };
    } catch (e) {
      return { refused: { code: (e as { code?: string }).code, message: (e as Error).message } };
    }
  };
  // Another key id: another protected header, which the peek then remembers for lock-a instead of the genuine one's.
  const otherHeader = sealReport({ kind: "event", event: event(), key: keyA, cloudKeyId: fromHex("d0d1"), ctr: 1 });

  it("property: with the lock's header remembered, a peek answers exactly what a full decode of the header does", () => {
    const genuine = sealEvent(8, { type: "state_applied", v: 3, key: undefined });
    const same = (changed: Uint8Array, lockId: string) => {
      peekReport(genuine, "lock-a");
      const remembered = peekOutcome(changed, lockId);
      peekReport(otherHeader, "lock-a");
      expect(remembered).toEqual(peekOutcome(changed, lockId));
    };
    // Every byte changed in a few ways (0x03 turns the lock id's last letter into another valid one)...
    for (let at = 0; at < genuine.length; at++)
      for (const xor of [0x01, 0x03, 0x80, 0xff]) {
        const changed = new Uint8Array(genuine);
        changed[at]! ^= xor;
        same(changed, "lock-a");
      }
    // ...and at random, cut, extended and delivered for either lock.
    fc.assert(
      fc.property(changedReports(genuine), ({ changed, lockId }) => {
        same(changed, lockId);
      }),
      { numRuns: 1000 },
    );
  });

  it("a remembered header passes only with nothing unprotected, and only for the lock it named", () => {
    const genuine = sealEvent(9);
    const { protectedBytes, payload, tag } = decodeMac0(genuine);
    expect(peekReport(genuine, "lock-a")).toMatchObject({ lock: "lock-a", ctr: 9 });
    for (const unprotected of [new Map([[4, kid]]), new Map([[99, 1]])]) {
      const moved = encodeCbor(new CborTag(17, [protectedBytes, unprotected, payload, tag]));
      expect(peekOutcome(moved, "lock-a").refused?.code).toBe("malformed");
    }
    expect(peekOutcome(genuine, "lock-b").refused?.code).toBe("wrong_lock");
    expect(peekReport(genuine, "lock-a")).toMatchObject({ lock: "lock-a", ctr: 9 });
  });
});

describe("openReport with a header memo (one batch's)", () => {
  const withMemo = (headers: ReportHeaderMemo, bytes: Uint8Array, lockId = "lock-a") =>
    openReport(bytes, { lockId, keys, headers });
  const warm = () => {
    const headers: ReportHeaderMemo = new Map();
    expect(withMemo(headers, sealEvent(1)).ok).toBe(true);
    expect(headers.has("lock-a")).toBe(true);
    return headers;
  };

  it("every one-byte change gets the very verdict it gets without the memo", () => {
    const bytes = sealEvent(5);
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const t = new Uint8Array(bytes);
        t[i]! ^= flip;
        const verdict = withMemo(warm(), t);
        expect(verdict.ok, `byte ${i} ^ ${flip}`).toBe(false);
        expect(verdict).toEqual(open(t));
      }
    }
  });

  it("property: changed, cut or extended reports, for either lock, judged as without the memo", () => {
    const genuine = sealEvent(9);
    fc.assert(
      fc.property(changedReports(genuine), ({ changed, lockId }) => {
        expect(withMemo(warm(), changed, lockId)).toEqual(open(changed, lockId));
      }),
      { numRuns: 1000 },
    );
  });

  it("a remembered header passes only with nothing unprotected, only for the lock it named, and never keeps a refused one", () => {
    const headers = warm();
    const genuine = sealEvent(9);
    const { protectedBytes, payload, tag } = decodeMac0(genuine);
    for (const unprotected of [new Map([[4, kid]]), new Map([[99, 1]])]) {
      const moved = encodeCbor(new CborTag(17, [protectedBytes, unprotected, payload, tag]));
      expect(withMemo(headers, moved).verdict).toBe("malformed");
    }
    expect(withMemo(headers, genuine, "lock-b").verdict).toBe("wrong_lock");
    expect(headers.has("lock-b")).toBe(false);
    // Lock b's genuine report delivered for lock a: its own header names lock b, remembered or not.
    const fromB = sealEvent(3, { lock: "lock-b" }, keyB);
    expect(withMemo(headers, fromB, "lock-a").verdict).toBe("wrong_lock");
    expect(withMemo(headers, genuine)).toMatchObject({ ok: true, report: { lock: "lock-a", ctr: 9 } });
    // The report's key id is its own copy: changing it changes nothing remembered.
    const first = withMemo(headers, sealEvent(10));
    if (!first.ok) throw new Error(first.message);
    first.report.kid.fill(0);
    expect(withMemo(headers, sealEvent(11)).ok).toBe(true);
  });
});

describe("tampering", () => {
  it("changing any one byte of a report never yields ok", () => {
    const bytes = sealEvent(5);
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const t = new Uint8Array(bytes);
        t[i]! ^= flip;
        const verdict = open(t, "lock-a", 4);
        expect(verdict.ok, `byte ${i} ^ ${flip}`).toBe(false);
      }
    }
  });

  it("property: any mutation, truncation or extension is refused", () => {
    const bytes = sealReport({ kind: "telemetry", telemetry: telemetry(), key: keyA, cloudKeyId: kid, ctr: 9 });
    fc.assert(
      fc.property(
        fc.nat(bytes.length - 1),
        fc.integer({ min: 1, max: 255 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.nat(bytes.length - 1),
        (at, xor, tail, cut) => {
          const t = new Uint8Array(bytes);
          t[at]! ^= xor;
          expect(open(t).ok).toBe(false);
          if (tail.length > 0) expect(open(new Uint8Array([...bytes, ...tail])).ok).toBe(false);
          expect(open(bytes.subarray(0, cut)).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("property: random bytes never throw and are never ok", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(open(bytes).ok).toBe(false);
      }),
    );
  });

  it("property: every event and telemetry reading round-trips with its counter", () => {
    const eventArb = fc.record({
      id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      lock: fc.constant("lock-a"),
      seq: fc.nat(),
      ts: fc.nat(),
      type: fc.constantFrom(...EVENT_TYPES),
      code: fc.option(fc.string({ minLength: 1, maxLength: 64 }), { nil: undefined }),
      dropped: fc.option(fc.nat(), { nil: undefined }),
    });
    fc.assert(
      fc.property(eventArb, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (e, ctr) => {
        const clean = Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as unknown as LockEvent;
        const verdict = open(
          sealReport({ kind: "event", event: clean, key: keyA, cloudKeyId: kid, ctr }),
          "lock-a",
          ctr - 1,
        );
        expect(verdict.ok).toBe(true);
        if (verdict.ok && verdict.report.kind === "event") {
          expect(verdict.report.ctr).toBe(ctr);
          expect(toHex(encodeEvent(verdict.report.event))).toBe(toHex(encodeEvent(clean)));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("telemetry property", () => {
  it("property: every telemetry reading round-trips with its counter", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        (level, mv, v, ctr) => {
          const t = telemetry({ level, mv, ...(v === undefined ? {} : { v }) });
          const verdict = open(sealReport({ kind: "telemetry", telemetry: t, key: keyA, cloudKeyId: kid, ctr }));
          expect(verdict).toMatchObject({ ok: true, report: { kind: "telemetry", ctr, telemetry: t } });
        },
      ),
      { numRuns: 200 },
    );
  });
});

// An independent COSE implementation (@auth0/cose) computes and checks the same HMAC 256/256 tags.
describe("interop with @auth0/cose", () => {
  it("verifies a report we seal, and refuses it under another lock's key", async () => {
    const decoded = TheirMac0.decode(sealEvent(2));
    await expect(decoded.verify(keyA, { algorithms: [MacAlgorithms.HS256] })).resolves.toBeUndefined();
    await expect(TheirMac0.decode(sealEvent(2)).verify(keyB)).rejects.toThrow();
  });

  it("a report they MAC over our header and payload opens as ok with our code", async () => {
    const ours = decodeMac0(sealEvent(2));
    const theirs = await TheirMac0.create(
      [...ours.protectedHeader.entries()] as never,
      new UnprotectedHeaders([]),
      ours.payload,
      keyA,
    );
    const bytes = theirs.encode();
    expect(open(bytes, "lock-a", 1).verdict).toBe("ok");
    expect(toHex(bytes)).toBe(toHex(sealEvent(2)));
  });
});
