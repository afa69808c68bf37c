import { describe, expect, it } from "vitest";
import {
  deriveReportKey,
  fromHex,
  judgeReportBatch,
  type LockEvent,
  type LockReportState,
  ReportCounter,
  type ReportKeyLookup,
  sealReport,
  toHex,
  x25519KeyPairFromSeed,
} from "../src/index.js";
import { seed, token } from "./helpers.js";

const cloud = x25519KeyPairFromSeed(seed("cloud report key"));
const kid = fromHex("c0c1c2c3");
const locks = ["lock-a", "lock-b"].map((id) => {
  const pair = x25519KeyPairFromSeed(seed(`${id} x25519`));
  return {
    id,
    key: deriveReportKey({ lockPrivate: pair.privateKey, peerPublic: cloud.publicKey, lockId: id, cloudKeyId: kid }),
    cloudKey: deriveReportKey({
      cloudPrivate: cloud.privateKey,
      peerPublic: pair.publicKey,
      lockId: id,
      cloudKeyId: kid,
    }),
  };
});
const [A, B] = locks as [(typeof locks)[number], (typeof locks)[number]];
const keys: ReportKeyLookup = (lockId, k) =>
  toHex(k) === toHex(kid) ? locks.find((l) => l.id === lockId)?.cloudKey : undefined;

const event = (lock: string, seq: number): LockEvent => ({
  id: new Uint8Array(16).fill(seq),
  lock,
  seq,
  ts: 1_800_000_000 + seq,
  type: "unlocked",
});
const seal = (lock: typeof A, ctr: number) =>
  sealReport({ kind: "event", event: event(lock.id, ctr), key: lock.key, cloudKeyId: kid, ctr });
const telemetry = (lock: typeof A, ctr: number) =>
  sealReport({
    kind: "telemetry",
    telemetry: { lock: lock.id, ts: 1_800_000_000, level: 50, mv: 2900, state: "ok" },
    key: lock.key,
    cloudKeyId: kid,
    ctr,
  });
const item = (lock: typeof A, bytes: Uint8Array) => ({ lockId: lock.id, bytes });
const stateOf =
  (m: Record<string, number>) =>
  (lockId: string): LockReportState | undefined =>
    m[lockId] === undefined ? undefined : { highestCounter: m[lockId]! };

describe("judgeReportBatch", () => {
  it("one forged item among honest ones refuses that item only", () => {
    const forged = new Uint8Array(seal(A, 3));
    forged[forged.length - 1]! ^= 1;
    const j = judgeReportBatch([item(A, seal(A, 2)), item(A, forged), item(A, seal(A, 4))], {
      keys,
      state: stateOf({ "lock-a": 1 }),
    });
    expect(j.verdicts.map((v) => v.verdict)).toEqual(["ok", "forged", "ok"]);
    expect(j.counts).toMatchObject({ ok: 2, forged: 1 });
    expect(j.state.get("lock-a")).toEqual({ highestCounter: 4 });
    // Counter 3 was never accepted: the gap says so.
    expect(j.gaps).toEqual([{ lock: "lock-a", from: 3, to: 3 }]);
  });

  it("judges every kind of bad item independently of the honest ones around it", () => {
    const items = [
      item(A, seal(A, 5)), // ok
      item(A, seal(A, 1)), // replayed: at or below the stored highest
      item(B, seal(A, 6)), // wrong_lock: A's report delivered as B's
      item(A, token()), // malformed: a key token
      item(A, sealReport({ kind: "event", event: event("lock-a", 7), key: A.key, cloudKeyId: fromHex("ee"), ctr: 7 })), // unknown_key
      item(A, telemetry(A, 6)), // ok: telemetry shares the counter
      item(B, seal(B, 1)), // ok: B has no stored state yet
    ];
    const j = judgeReportBatch(items, { keys, state: stateOf({ "lock-a": 4 }) });
    expect(j.verdicts.map((v) => v.verdict)).toEqual([
      "ok",
      "replayed",
      "wrong_lock",
      "malformed",
      "unknown_key",
      "ok",
      "ok",
    ]);
    expect(j.counts).toEqual({ ok: 3, forged: 0, wrong_lock: 1, replayed: 1, malformed: 1, unknown_key: 1 });
    expect(Object.fromEntries(j.state)).toEqual({ "lock-a": { highestCounter: 6 }, "lock-b": { highestCounter: 1 } });
    expect(j.gaps).toEqual([]);
  });

  it("accepts a batch whose items are out of order within it, and refuses a duplicate in it", () => {
    const j = judgeReportBatch([item(A, seal(A, 3)), item(A, seal(A, 1)), item(A, seal(A, 2)), item(A, seal(A, 2))], {
      keys,
      state: stateOf({}),
    });
    expect(j.verdicts.map((v) => v.verdict)).toEqual(["ok", "ok", "ok", "replayed"]);
    expect(j.state.get("lock-a")).toEqual({ highestCounter: 3 });
  });

  it("the same batch delivered again is all replayed and changes no state", () => {
    const batch = [item(A, seal(A, 1)), item(A, telemetry(A, 2))];
    const first = judgeReportBatch(batch, { keys, state: stateOf({}) });
    const again = judgeReportBatch(batch, {
      keys,
      state: stateOf({ "lock-a": first.state.get("lock-a")!.highestCounter }),
    });
    expect(again.verdicts.map((v) => v.verdict)).toEqual(["replayed", "replayed"]);
    expect(again.state.size).toBe(0);
  });

  it("reports seq gaps per lock, from the stored state and within the batch", () => {
    const j = judgeReportBatch(
      [item(A, seal(A, 12)), item(B, seal(B, 3)), item(A, seal(A, 15)), item(B, seal(B, 4)), item(A, seal(A, 16))],
      { keys, state: stateOf({ "lock-a": 10, "lock-b": 2 }) },
    );
    expect(j.verdicts.every((v) => v.ok)).toBe(true);
    expect(j.gaps).toEqual([
      { lock: "lock-a", from: 11, to: 11 },
      { lock: "lock-a", from: 13, to: 14 },
    ]);
  });

  it("an empty batch is judged empty", () => {
    const j = judgeReportBatch([], { keys, state: stateOf({}) });
    expect(j).toMatchObject({ verdicts: [], gaps: [], counts: { ok: 0 } });
  });
});

describe("ReportCounter", () => {
  it("rises by one from where it was restored, across events and telemetry", () => {
    const c = new ReportCounter();
    expect([c.next(), c.next()]).toEqual([1, 2]);
    const restored = new ReportCounter(c.last);
    expect(restored.next()).toBe(3);
    expect(() => new ReportCounter(-1)).toThrow(RangeError);
    expect(() => new ReportCounter(Number.MAX_SAFE_INTEGER).next()).toThrow(RangeError);
  });
});
