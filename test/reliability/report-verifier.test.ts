import {
  CborTag,
  deriveReportKey,
  encodeCbor,
  judgeReportBatch,
  type LockReportState,
  openReport,
  type ReportBatchItem,
  type ReportKeyLookup,
  type ReportVerdict,
  toBase64Url,
  toHex,
} from "@latchkey/protocol";
import {
  CLAIM_SECRET_A,
  CLOUD,
  HIGHEST_A,
  hostileReports,
  KEY_A,
  KEY_B,
  KID,
  LOCK_A,
  LOCK_A_X,
  LOCK_B,
  LOCK_B_X,
  OTHER_KID,
  reportB,
  sealA,
} from "@latchkey/protocol/testing/hostile-reports";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReliabilityFile } from "../src/reliability/per-file.js";

/**
 * Lock-authenticated reports under attack (issue 13, docs/reports.md), at the cloud's verifier in protocol: a corpus of
 * what a courier can do to a report, fast-check mutations, and batches mixing honest and hostile items. Every hostile
 * report gets its verdict, nothing throws, an honest item is never refused for its neighbours, and no key appears in
 * any verdict. The cloud does not run this verifier yet (the wiring is the next step of issue 13), so this file drives
 * protocol directly.
 */
const file = new ReliabilityFile("report-verifier");
const { tally } = file;

// The cloud's side: keys derived from its private report keys and each lock's public key, as a cloud would.
const cloudKey = (lockId: string, lockPublic: Uint8Array, kid: Uint8Array) =>
  deriveReportKey({ cloudPrivate: CLOUD.privateKey, peerPublic: lockPublic, lockId, cloudKeyId: kid });
const held = new Map<string, Uint8Array>([
  [`${LOCK_A}/${toHex(KID)}`, cloudKey(LOCK_A, LOCK_A_X.publicKey, KID)],
  [`${LOCK_A}/${toHex(OTHER_KID)}`, cloudKey(LOCK_A, LOCK_A_X.publicKey, OTHER_KID)],
  [`${LOCK_B}/${toHex(KID)}`, cloudKey(LOCK_B, LOCK_B_X.publicKey, KID)],
]);
const keys: ReportKeyLookup = (lockId, kid) => held.get(`${lockId}/${toHex(kid)}`);
for (const [label, key] of [
  ["lock A report key", KEY_A],
  ["lock B report key", KEY_B],
  ["cloud report private key", CLOUD.privateKey],
  ["lock A X25519 private key", LOCK_A_X.privateKey],
  ["lock A claim secret", CLAIM_SECRET_A],
  ...[...held.entries()].map(([k, v]) => [`cloud-held key ${k}`, v] as const),
] as const) {
  file.secrets.add(label, toHex(key));
  file.secrets.add(`${label} (base64url)`, toBase64Url(key));
}

/** Every verdict is what a cloud would log and count: it goes to the file's log, which must hold no secret. */
function log(verdicts: ReportVerdict[]): void {
  for (const v of verdicts)
    file.logs.lines.push(`verdict ${JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? toHex(x) : x))}`);
}

const stateA = (lockId: string): LockReportState | undefined =>
  lockId === LOCK_A ? { highestCounter: HIGHEST_A } : undefined;

describe("a corpus of hostile reports", () => {
  const corpus = hostileReports();

  it(`${corpus.length} reports, each answered with its verdict, none ok`, () => {
    const wrong: string[] = [];
    const verdicts: ReportVerdict[] = [];
    for (const item of corpus) {
      let got: string;
      try {
        const v = openReport(item.bytes, {
          lockId: item.lockId,
          keys,
          highestCounter: stateA(item.lockId)?.highestCounter ?? 0,
        });
        verdicts.push(v);
        got = v.verdict;
      } catch (e) {
        got = `threw ${(e as Error).message}`;
      }
      tally.input();
      if (got !== "ok") tally.refuse();
      if (got !== item.expected) wrong.push(`${item.name}: expected ${item.expected}, got ${got}`);
    }
    log(verdicts);
    expect(wrong).toEqual([]);
    tally.note("hostile reports in the corpus", corpus.length);
    tally.case(
      "issue 13 reports: a report re-MACed under the printed claim secret, a low-order key or a courier's key is refused as forged",
    );
    tally.case(
      "issue 13 reports: lock A's report delivered as lock B's, or relabelled, is refused (wrong_lock / forged)",
    );
    tally.case("issue 13 reports: a key token, a signed state or an unsealed message is not a report (malformed)");
    tally.case("issue 13 reports: a report at or below the highest accepted counter is refused as replayed");
  });

  it("the same corpus as one batch: every item refused, the state unchanged, each counted under its verdict", () => {
    const items: ReportBatchItem[] = corpus.map((c) => ({ lockId: c.lockId, bytes: c.bytes }));
    const j = judgeReportBatch(items, { keys, state: stateA });
    log(j.verdicts);
    tally.input(items.length);
    tally.refuse(j.verdicts.filter((v) => !v.ok).length);
    expect(j.verdicts.map((v) => v.verdict)).toEqual(corpus.map((c) => c.expected));
    expect(j.state.size).toBe(0);
    expect(j.gaps).toEqual([]);
  });
});

describe("batches mixing honest and hostile items", () => {
  it("200 honest reports of two locks with 40 hostile ones among them: every honest one accepted, every hostile refused", () => {
    const corpus = hostileReports();
    const items: Array<ReportBatchItem & { honest: boolean }> = [];
    let ctrA = HIGHEST_A;
    let ctrB = 0;
    for (let i = 0; i < 200; i++) {
      if (i % 2 === 0) items.push({ lockId: LOCK_A, bytes: sealA(++ctrA), honest: true });
      else items.push({ lockId: LOCK_B, bytes: reportB(++ctrB), honest: true });
      if (i % 5 === 4) {
        const c = corpus[Math.floor(i / 5) % corpus.length]!;
        items.push({ lockId: c.lockId, bytes: c.bytes, honest: false });
      }
    }
    // A replay of an honest item of this very batch, and a lost counter of lock B.
    items.push({ lockId: LOCK_A, bytes: sealA(HIGHEST_A + 1), honest: false });
    items.splice(
      items.findIndex((x) => x.lockId === LOCK_B && x.honest),
      1,
    );
    const j = judgeReportBatch(items, { keys, state: stateA });
    log(j.verdicts);
    tally.input(items.filter((x) => !x.honest).length);
    const refusedHonest = items.filter((x, i) => x.honest && !j.verdicts[i]!.ok).length;
    const acceptedHostile = items.filter((x, i) => !x.honest && j.verdicts[i]!.ok).length;
    tally.refuse(items.filter((x, i) => !x.honest && !j.verdicts[i]!.ok).length);
    expect({ refusedHonest, acceptedHostile }).toEqual({ refusedHonest: 0, acceptedHostile: 0 });
    expect(j.counts.ok).toBe(199);
    expect(Object.fromEntries(j.state)).toEqual({
      [LOCK_A]: { highestCounter: HIGHEST_A + 100 },
      [LOCK_B]: { highestCounter: 100 },
    });
    // Lock B's counter 1 never came: B has no stored state, so its first accepted counter (2) starts it, no gap.
    expect(j.gaps).toEqual([]);
    tally.note("honest items in the mixed batch", 199);
    tally.case("issue 13 reports: one forged item in an honest batch refuses only itself");
  });

  it("counters lost between batches show as gaps per lock", () => {
    const first = judgeReportBatch(
      [1, 2, 3].map((c) => ({ lockId: LOCK_B, bytes: reportB(c) })),
      { keys, state: () => undefined },
    );
    const second = judgeReportBatch(
      [
        { lockId: LOCK_B, bytes: reportB(7) },
        { lockId: LOCK_A, bytes: sealA(HIGHEST_A + 3) },
        { lockId: LOCK_B, bytes: reportB(5) },
      ],
      { keys, state: (id) => (id === LOCK_B ? first.state.get(LOCK_B) : stateA(id)) },
    );
    expect(second.verdicts.every((v) => v.ok)).toBe(true);
    expect(second.gaps).toEqual([
      { lock: LOCK_B, from: 4, to: 4 },
      { lock: LOCK_B, from: 6, to: 6 },
      { lock: LOCK_A, from: HIGHEST_A + 1, to: HIGHEST_A + 2 },
    ]);
    tally.case("issue 13 reports: seq gaps are reported per lock");
  });
});

describe("fast-check: a courier's mutations", () => {
  const genuine = sealA(HIGHEST_A + 1);

  it("no flip, cut, splice or extension of a genuine report is accepted, and nothing throws", () => {
    let tried = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(genuine.length - 1), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(genuine.length),
        fc.uint8Array({ maxLength: 16 }),
        (flips, cut, tail) => {
          const flipped = new Uint8Array(genuine);
          for (const [at, x] of flips) flipped[at]! ^= x;
          for (const bytes of [flipped, Uint8Array.from([...genuine.subarray(0, cut), ...tail])]) {
            if (bytes.length === genuine.length && bytes.every((b, i) => b === genuine[i])) continue;
            tried += 1;
            const v = openReport(bytes, { lockId: LOCK_A, keys, highestCounter: HIGHEST_A });
            expect(v.ok).toBe(false);
          }
        },
      ),
      { numRuns: 2000 },
    );
    tally.input(tried);
    tally.refuse(tried);
    tally.case("issue 13 reports: no byte of a report can be changed, cut or added without refusal");
  });

  it("arbitrary bytes and arbitrary CBOR, bare or in tag 17, are refused without throwing", () => {
    let tried = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          fc.tuple(fc.anything(), fc.boolean()).map(([x, tagged]) => anyToCbor(x, tagged)),
        ),
        (bytes) => {
          tried += 1;
          expect(openReport(bytes, { lockId: LOCK_A, keys }).ok).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
    tally.input(tried);
    tally.refuse(tried);
  });
});

function anyToCbor(x: unknown, tagged: boolean): Uint8Array {
  try {
    return encodeCbor(tagged ? new CborTag(17, x as never) : x);
  } catch {
    // a value our encoder does not take (a symbol, a function): any byte string will do
    return Uint8Array.of(0xf6);
  }
}
