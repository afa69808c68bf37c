import { createHash } from "node:crypto";
import {
  commandResultBinding,
  type Ed25519Backend,
  keyPairFromSeed,
  ManualClock,
  NonceBook,
  nobleEd25519,
  nodeEd25519,
  pinTag,
  resultMatchesCommand,
  type SignedLockState,
  signHandOver,
  signKeyToken,
  signLockState,
  signRemoteCommand,
  signTimeAnswer,
  verifyLockState,
  verifyRemoteCommand,
  verifyTimeAnswer,
} from "@latchkey/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { deeplyNestedDocument, oversizeDocument } from "../src/reliability/attacker.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";

/**
 * The compromised gateway of docs/design.md section 7 against protocol's trust verifiers (docs/trust.md), on both
 * Ed25519 backends: a gateway holds every document it carries and may replay, swap, reorder, truncate, inflate or
 * forge them. Every attack is refused with its code and nothing throws. These are the protocol-level attacks of the
 * section's list; the ones that need a lock, a bridge and a cloud run once lock-sim and the cloud adopt the documents.
 */
const file = new ReliabilityFile("trust-documents");
const { tally } = file;

const seed = (label: string, n = 32) => new Uint8Array(createHash("sha256").update(label).digest().subarray(0, n));
const A = keyPairFromSeed(seed("authority A"));
const B = keyPairFromSeed(seed("authority B, A's successor"));
const OTHER = keyPairFromSeed(seed("another lock holder's authority"));
const SECRET = seed("claim secret of lock-a", 16);
const V = 1_800_000_000_000;
const IAT = 1_800_000_000;

function state(lock = "lock-a", overrides: Partial<SignedLockState> = {}): SignedLockState {
  return {
    lock,
    v: V,
    iat: IAT,
    issuers: [{ kid: seed("kid", 8), x: keyPairFromSeed(seed("issuer")).publicKey, notAfter: IAT + 86_400 }],
    revoked: [{ cti: seed("revoked cti", 16) }],
    ack: 10,
    reportKey: { id: seed("report id", 8), x: seed("report x") },
    ...overrides,
  };
}

/** Runs one hostile input and expects the refusal code; counts it. */
function expectRefused(name: string, verdict: { ok: boolean; code?: string }, code: string): void {
  tally.input();
  expect([name, verdict.ok ? "accepted" : verdict.code]).toEqual([name, code]);
  tally.refuse();
}

describe.each([
  ["node", nodeEd25519],
  ["noble", nobleEd25519],
] as [string, Ed25519Backend][])("trust documents under a compromised gateway (%s backend)", (_name, backend) => {
  const atLockA = { lockId: "lock-a", authority: A.publicKey, currentV: V - 1, backend };
  const good = signLockState(state(), { secretKey: A.secretKey });

  it("type confusion: a key token, a time answer or a command never passes as a state, nor a state as either", () => {
    const nonce = seed("nonce", 16);
    const token = signKeyToken(
      {
        iss: "latchkey",
        sub: "+4790000000",
        aud: "lock-a",
        exp: IAT + 3600,
        nbf: IAT,
        iat: IAT,
        cti: seed("cti", 16),
        cnf: keyPairFromSeed(seed("device")).publicKey,
      },
      { kid: seed("kid", 8), secretKey: A.secretKey },
    );
    const timeAnswer = signTimeAnswer({ lock: "lock-a", nonce, time: IAT * 1000 }, A.secretKey);
    const command = signRemoteCommand({ lock: "lock-a", nonce, counter: 1, action: "unlock" }, A.secretKey);
    for (const [what, doc] of [
      ["key token", token],
      ["time answer", timeAnswer],
      ["command", command],
    ] as const) {
      expectRefused(`${what} as state`, verifyLockState(doc, atLockA), "wrong_type");
    }
    const nonces = new NonceBook();
    nonces.issue(nonce, 0);
    const lockSide = { lockId: "lock-a", authority: A.publicKey, nonces, nowMs: 1, backend };
    expectRefused(
      "time answer as command",
      verifyRemoteCommand(timeAnswer, { ...lockSide, lastCounter: 0 }),
      "wrong_type",
    );
    expectRefused("state as command", verifyRemoteCommand(good, { ...lockSide, lastCounter: 0 }), "wrong_type");
    expectRefused("command as time answer", verifyTimeAnswer(command, lockSide), "wrong_type");
    expectRefused("state as time answer", verifyTimeAnswer(good, lockSide), "wrong_type");
    tally.case("trust: type confusion (key token as state, time answer as command, and the rest)");
  });

  it("another lock holder's valid document, lock A's document at lock B, an old v", () => {
    expectRefused(
      "another holder's state",
      verifyLockState(signLockState(state(), { secretKey: OTHER.secretKey }), atLockA),
      "wrong_authority",
    );
    expectRefused("lock A's state at lock B", verifyLockState(good, { ...atLockA, lockId: "lock-b" }), "wrong_lock");
    expectRefused("replayed state", verifyLockState(good, { ...atLockA, currentV: V }), "stale_version");
    tally.case("trust: another lock holder's valid document; lock A's document at lock B; a replayed state");
  });

  it("pinning: a swapped pin tag, pinning without the secret; the right tag pins", () => {
    const unpinned = { lockId: "lock-a", claimSecret: SECRET, backend };
    const swapped = signLockState(state(), {
      secretKey: OTHER.secretKey,
      pinTag: pinTag(SECRET, "lock-a", A.publicKey),
    });
    expectRefused("swapped pin tag", verifyLockState(swapped, unpinned), "bad_pin");
    const guessed = signLockState(state(), { secretKey: OTHER.secretKey, pinTag: seed("guess") });
    expectRefused("pin without the secret", verifyLockState(guessed, unpinned), "bad_pin");
    const otherLocksTag = signLockState(state(), {
      secretKey: OTHER.secretKey,
      pinTag: pinTag(SECRET, "lock-b", OTHER.publicKey),
    });
    expectRefused("another lock's pin tag", verifyLockState(otherLocksTag, unpinned), "bad_pin");
    const right = signLockState(state(), { secretKey: A.secretKey, pinTag: pinTag(SECRET, "lock-a", A.publicKey) });
    expect(verifyLockState(right, unpinned)).toMatchObject({ ok: true, pin: "first" });
    tally.case("trust: a swapped pin tag; pinning without the secret");
  });

  it("hand-over: a forged one, and the old authority after it", () => {
    const forged = signHandOver({ newKey: OTHER.publicKey, fromV: V }, OTHER.secretKey);
    const withForged = signLockState(state(), { secretKey: OTHER.secretKey, handOver: forged });
    expectRefused("forged hand-over", verifyLockState(withForged, atLockA), "bad_handover");
    const real = signHandOver({ newKey: B.publicKey, fromV: V }, A.secretKey);
    const handedOver = verifyLockState(signLockState(state(), { secretKey: B.secretKey, handOver: real }), atLockA);
    expect(handedOver).toMatchObject({ ok: true, pin: "handover" });
    const atB = { ...atLockA, authority: B.publicKey, currentV: V };
    const oldAuthority = signLockState(state("lock-a", { v: V + 1 }), { secretKey: A.secretKey });
    expectRefused("old authority after hand-over", verifyLockState(oldAuthority, atB), "wrong_authority");
    const handBack = signHandOver({ newKey: A.publicKey, fromV: V + 1 }, A.secretKey);
    const withHandBack = signLockState(state("lock-a", { v: V + 1 }), { secretKey: A.secretKey, handOver: handBack });
    expectRefused("old authority handing itself back", verifyLockState(withHandBack, atB), "bad_handover");
    tally.case("trust: a forged hand-over; an old authority after hand-over");
  });

  it("oversize and deeply nested documents are refused before any signature check", () => {
    let verifies = 0;
    const counting: Ed25519Backend = {
      ...backend,
      verify: (...args) => {
        verifies++;
        return backend.verify(...args);
      },
    };
    const at = { ...atLockA, backend: counting };
    expectRefused("oversize state", verifyLockState(oversizeDocument(), at), "too_large");
    const nested = deeplyNestedDocument();
    expectRefused("deeply nested state", verifyLockState(nested, at), "too_deep");
    expectRefused(
      "deeply nested time answer",
      verifyTimeAnswer(nested.subarray(0, 512), { ...at, nonces: new NonceBook(), nowMs: 0 }),
      "too_deep",
    );
    expect(verifies).toBe(0);
    tally.case("trust: oversize and deeply nested documents refused before verification");
  });

  it("time answers replayed, for another lock, expired, over the round-trip cap", () => {
    const local = new ManualClock(1_000_000);
    const nonces = new NonceBook();
    const ask = (label: string) => nonces.issue(seed(label, 16), local.now());
    const answer = (nonce: Uint8Array, lock = "lock-a") =>
      signTimeAnswer({ lock, nonce, time: IAT * 1000 + 5000 }, A.secretKey);
    const options = () => ({ lockId: "lock-a", authority: A.publicKey, nonces, nowMs: local.now(), backend });
    const first = answer(ask("t1"));
    expect(verifyTimeAnswer(first, options()).ok).toBe(true);
    expectRefused("replayed time answer", verifyTimeAnswer(first, options()), "bad_nonce");
    expectRefused(
      "time answer for another lock",
      verifyTimeAnswer(answer(ask("t2"), "lock-b"), options()),
      "wrong_lock",
    );
    const slow = ask("t3");
    local.advance(5_001);
    expectRefused("time answer over the round-trip cap", verifyTimeAnswer(answer(slow), options()), "rtt_exceeded");
    const late = ask("t4");
    local.advance(30_001);
    expectRefused("expired time answer", verifyTimeAnswer(answer(late), options()), "nonce_expired");
    const behind = ask("t5");
    expectRefused(
      "time answer before the state's iat",
      verifyTimeAnswer(answer(behind), { ...options(), stateIat: IAT + 60 }),
      "time_behind_state",
    );
    tally.case("trust: time answers replayed, for another lock, expired, over the round-trip cap");
  });

  it("remote commands replayed or reordered, and a forged result", () => {
    const local = new ManualClock(2_000_000);
    const nonces = new NonceBook();
    let lastCounter = 0;
    const receive = (doc: Uint8Array) => {
      const verdict = verifyRemoteCommand(doc, {
        lockId: "lock-a",
        authority: A.publicKey,
        nonces,
        nowMs: local.now(),
        lastCounter,
        backend,
      });
      if (verdict.ok) lastCounter = verdict.command.counter;
      return verdict;
    };
    const n1 = nonces.issue(seed("c1", 16), local.now());
    const n2 = nonces.issue(seed("c2", 16), local.now());
    const held = signRemoteCommand({ lock: "lock-a", nonce: n1, counter: 1, action: "unlock" }, A.secretKey);
    const later = signRemoteCommand({ lock: "lock-a", nonce: n2, counter: 2, action: "lock" }, A.secretKey);
    expect(receive(later).ok).toBe(true);
    expectRefused("reordered command", receive(held), "stale_counter");
    expectRefused("replayed command", receive(later), "bad_nonce");
    tally.input();
    expect(resultMatchesCommand(commandResultBinding(seed("unrelated", 16)), n2)).toBe(false);
    tally.refuse();
    tally.case("trust: remote commands replayed or reordered; a forged result");
  });

  it("no mutation of a signed state is ever accepted (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.option(fc.nat(good.length), { nil: undefined }),
        (edits, cut) => {
          const bad = new Uint8Array(good);
          for (const [at, xor] of edits) bad[at]! ^= xor;
          const input = cut === undefined ? bad : bad.subarray(0, cut);
          tally.input();
          const verdict = verifyLockState(input, atLockA);
          expect(verdict.ok).toBe(false);
          tally.refuse();
        },
      ),
      { numRuns: 300 },
    );
    tally.case("trust: any mutation or truncation of a signed state refused");
  });
});
