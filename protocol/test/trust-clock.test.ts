import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_LEEWAY_SECONDS,
  LockClock,
  NonceBook,
  StateRevocations,
  signTimeAnswer,
  trustedIssuers,
  verifyKeyToken,
  verifyLockState,
  verifyTimeAnswer,
} from "../src/index.js";
import { issuer, kid, seed, token } from "./helpers.js";
import { authority, LOCK, signedState } from "./trust-helpers.js";

/**
 * The property of docs/design.md section 7 (bounds in docs/trust.md "Time bounds"): a lock whose oscillator drifts up
 * to ±2 min/day spends 30 days offline, then gets one signed time answer. Throughout, its clock stays within its own
 * uncertainty of true time, and no expired, not-yet-valid or revoked key opens; after the answer, every key valid with
 * a margin of a few seconds opens again.
 */
const DAY_MS = 86_400_000;
const L = DEFAULT_LEEWAY_SECONDS;
const T0 = 1_800_000_000_000; // true time of the first time answer, unix ms

/** A key: nbf relative to day 30 and lifetime, in seconds; revoked or not. */
const keySpec = fc.record({
  nbf: fc.integer({ min: -40 * 86_400, max: 2 * 86_400 }),
  life: fc.integer({ min: 1, max: 40 * 86_400 }),
  revoked: fc.boolean(),
});

/** A lock on a drifting oscillator: local ms as a function of true ms. */
function oscillator(driftMsPerDay: number, local0: number) {
  const rate = 1 + driftMsPerDay / DAY_MS;
  return (trueMs: number) => local0 + Math.round((trueMs - T0) * rate);
}

describe("time: 30 days offline with drift, then one time answer (property)", () => {
  it("keeps the clock within its uncertainty; never opens an expired, early or revoked key; opens valid ones after", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -120_000, max: 120_000 }),
        fc.array(
          fc.record({ rtt: fc.integer({ min: 0, max: 4_990 }), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
          {
            minLength: 2,
            maxLength: 2,
          },
        ),
        fc.array(keySpec, { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 30 * DAY_MS }), { minLength: 1, maxLength: 4 }),
        (drift, answers, specs, checkpoints) => {
          const localAt = oscillator(drift, 7_000_000);
          const clock = new LockClock();
          const nonces = new NonceBook();
          let n = 0;
          // One signed time round trip starting at true time `t`: the cloud answers somewhere inside it. (The lock
          // measures the round trip on its own drifting oscillator, so a true 4,997 ms may count as 5,001: refused.)
          const timeRoundTrip = (t: number, rtt: number, at: number) => {
            const nonce = nonces.issue(seed(`t${n++}`).subarray(0, 16), localAt(t));
            const doc = signTimeAnswer({ lock: LOCK, nonce, time: Math.round(t + at * rtt) }, authority.secretKey);
            const received = localAt(t + rtt);
            const verdict = verifyTimeAnswer(doc, {
              lockId: LOCK,
              authority: authority.publicKey,
              nonces,
              nowMs: received,
            });
            expect(verdict.ok).toBe(true);
            if (verdict.ok) clock.applyTimeAnswer(verdict.time, verdict.rttMs, received);
          };

          // Day 0: a time answer, then the lock holder's state with the revocations (applied through its verifier).
          timeRoundTrip(T0, answers[0]!.rtt, answers[0]!.at);
          const day30 = T0 + 30 * DAY_MS;
          const keys = specs.map((s, i) => {
            const nbf = Math.floor(day30 / 1000) + s.nbf;
            const cti = seed(`cti ${i}`).subarray(0, 16);
            return { ...s, nbf, exp: nbf + s.life, cti, bytes: token({ cti, nbf, exp: nbf + s.life, iat: nbf - 10 }) };
          });
          const applied = verifyLockState(
            signedState({
              iat: T0 / 1000,
              issuers: [{ kid, x: issuer.publicKey, notAfter: day30 / 1000 + 365 * 86_400 }],
              revoked: keys.filter((k) => k.revoked).map((k) => ({ cti: k.cti })),
            }),
            { lockId: LOCK, authority: authority.publicKey },
          );
          if (!applied.ok) throw new Error(applied.message);
          clock.applyStateIat(applied.state.iat, localAt(T0 + answers[0]!.rtt));
          const revoked = new StateRevocations(applied.state);

          const check = (trueMs: number, afterAnswer: boolean) => {
            const local = localAt(trueMs);
            const lockNow = clock.nowMs(local)!;
            expect(Math.abs(lockNow - trueMs)).toBeLessThanOrEqual(clock.uncertaintyMs(local));
            const time = clock.tokenTime(local)!;
            const trust = trustedIssuers(applied.state, time);
            const trueS = trueMs / 1000;
            for (const key of keys) {
              const opened = verifyKeyToken(key.bytes, { trust, lockId: LOCK, ...time, revoked }).ok;
              const expired = trueS >= key.exp + L;
              const early = trueS < key.nbf - L;
              if (key.revoked || expired || early) expect(opened).toBe(false);
              // After one answer the uncertainty is a few seconds: a key valid with 10 s to spare opens.
              if (afterAnswer && !key.revoked && trueS >= key.nbf - L + 10 && trueS < key.exp + L - 10) {
                expect(opened).toBe(true);
              }
            }
          };

          // 30 days with everything withheld: only the drifting oscillator, checked at random moments.
          for (const at of checkpoints) check(T0 + answers[0]!.rtt + at, false);
          check(day30, false);
          // Day 30: one time answer.
          timeRoundTrip(day30, answers[1]!.rtt, answers[1]!.at);
          const after = day30 + answers[1]!.rtt;
          expect(clock.uncertaintyMs(localAt(after))).toBeLessThanOrEqual(2_600);
          check(after, true);
          check(after + 60_000, true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("the uncertainty after 30 days offline at the default 2,000 ppm is under 87 minutes", () => {
    const clock = new LockClock();
    clock.applyTimeAnswer(T0, 0, 0);
    expect(clock.uncertaintyMs(30 * DAY_MS)).toBe(5_184_001);
  });
});
