import { describe, expect, it } from "vitest";
import {
  decodeTimeRequest,
  encodeCbor,
  encodeTimeRequest,
  isProtocolError,
  LockClock,
  MAX_TIME_RTT_MS,
  ManualClock,
  NonceBook,
  signRemoteCommand,
  signTimeAnswer,
  type VerifyTimeAnswerOptions,
  verifyTimeAnswer,
} from "../src/index.js";
import { seed, token } from "./helpers.js";
import { authority, IAT, LOCK, otherAuthority, signedState } from "./trust-helpers.js";

/** A lock's time nonce book on a manual local clock, with one outstanding request. */
function lockSide() {
  const local = new ManualClock(5_000_000);
  const nonces = new NonceBook();
  let n = 0;
  const request = () => nonces.issue(seed(`time nonce ${n++}`).subarray(0, 16), local.now());
  const options = (extra: Partial<VerifyTimeAnswerOptions> = {}): VerifyTimeAnswerOptions => ({
    lockId: LOCK,
    authority: authority.publicKey,
    nonces,
    nowMs: local.now(),
    ...extra,
  });
  return { local, nonces, request, options };
}

const cloudNow = IAT * 1000 + 123;
const answer = (nonce: Uint8Array, o: { lock?: string; time?: number; secretKey?: Uint8Array } = {}) =>
  signTimeAnswer({ lock: o.lock ?? LOCK, nonce, time: o.time ?? cloudNow }, o.secretKey ?? authority.secretKey);
const codeOf = (v: ReturnType<typeof verifyTimeAnswer>) => (v.ok ? "ok" : v.code);

describe("time request", () => {
  it("round-trips, and the cloud refuses one out of shape", () => {
    const nonce = seed("n").subarray(0, 16);
    expect(decodeTimeRequest(encodeTimeRequest({ lock: LOCK, nonce }))).toEqual({ lock: LOCK, nonce });
    for (const bad of [
      encodeCbor(new Map([[1, LOCK]])),
      encodeCbor([LOCK, nonce]),
      encodeCbor(
        new Map<number, unknown>([
          [1, "a/b"],
          [2, nonce],
        ]),
      ),
    ]) {
      let code: string | undefined;
      try {
        decodeTimeRequest(bad);
      } catch (e) {
        code = isProtocolError(e) ? e.code : String(e);
      }
      expect(code).toBe("invalid_message");
    }
    expect(() => encodeTimeRequest({ lock: LOCK, nonce: new Uint8Array(8) })).toThrow(TypeError);
  });
});

describe("time answer", () => {
  it("round-trips with the round trip the lock measured", () => {
    const lock = lockSide();
    const nonce = lock.request();
    lock.local.advance(800);
    expect(verifyTimeAnswer(answer(nonce), lock.options())).toEqual({ ok: true, time: cloudNow, rttMs: 800 });
  });

  it("replayed: a nonce answers once (bad_nonce), and a nonce the lock never issued is bad_nonce", () => {
    const lock = lockSide();
    const doc = answer(lock.request());
    expect(codeOf(verifyTimeAnswer(doc, lock.options()))).toBe("ok");
    expect(codeOf(verifyTimeAnswer(doc, lock.options()))).toBe("bad_nonce");
    expect(codeOf(verifyTimeAnswer(answer(seed("never issued").subarray(0, 16)), lock.options()))).toBe("bad_nonce");
  });

  it("for another lock: wrong_lock, and the nonce stays for the right answer", () => {
    const lock = lockSide();
    const nonce = lock.request();
    expect(codeOf(verifyTimeAnswer(answer(nonce, { lock: "lock-2" }), lock.options()))).toBe("wrong_lock");
    expect(codeOf(verifyTimeAnswer(answer(nonce), lock.options()))).toBe("ok");
  });

  it("expired: an answer after the nonce's life is nonce_expired", () => {
    const lock = lockSide();
    const nonce = lock.request();
    lock.local.advance(30_001);
    expect(codeOf(verifyTimeAnswer(answer(nonce), lock.options()))).toBe("nonce_expired");
  });

  it(`over the round-trip cap (${MAX_TIME_RTT_MS} ms) is rtt_exceeded; at the cap it is taken`, () => {
    const lock = lockSide();
    const slow = lock.request();
    const onTime = lock.request();
    lock.local.advance(MAX_TIME_RTT_MS);
    expect(codeOf(verifyTimeAnswer(answer(onTime), lock.options()))).toBe("ok");
    lock.local.advance(1);
    expect(codeOf(verifyTimeAnswer(answer(slow), lock.options()))).toBe("rtt_exceeded");
  });

  it("never below the iat of the applied state: time_behind_state", () => {
    const lock = lockSide();
    const options = lock.options({ stateIat: IAT + 1 });
    expect(codeOf(verifyTimeAnswer(answer(lock.request()), options))).toBe("time_behind_state");
    expect(codeOf(verifyTimeAnswer(answer(lock.request(), { time: (IAT + 1) * 1000 }), options))).toBe("ok");
  });

  it("signed by another authority: wrong_authority; tampered: bad_signature", () => {
    const lock = lockSide();
    const nonce = lock.request();
    expect(codeOf(verifyTimeAnswer(answer(nonce, { secretKey: otherAuthority.secretKey }), lock.options()))).toBe(
      "wrong_authority",
    );
    const tampered = answer(nonce);
    tampered[tampered.length - 1]! ^= 1;
    expect(codeOf(verifyTimeAnswer(tampered, lock.options()))).toBe("bad_signature");
    expect(codeOf(verifyTimeAnswer(answer(nonce), lock.options()))).toBe("ok");
  });

  it("type confusion: a state, a command or a key token is never a time answer (wrong_type)", () => {
    const lock = lockSide();
    const nonce = lock.request();
    const command = signRemoteCommand({ lock: LOCK, nonce, counter: 1, action: "unlock" }, authority.secretKey);
    for (const doc of [signedState(), command, token()]) {
      expect(codeOf(verifyTimeAnswer(doc, lock.options()))).toBe("wrong_type");
    }
    expect(codeOf(verifyTimeAnswer(new Uint8Array(513), lock.options()))).toBe("too_large");
  });
});

describe("LockClock", () => {
  it("is unset until a signed time, then bounded by half the round trip plus the drift allowance", () => {
    const clock = new LockClock(2000);
    expect(clock.tokenTime(0)).toBeUndefined();
    expect(clock.uncertaintyMs(0)).toBe(Number.POSITIVE_INFINITY);
    // A state's iat sets a floor for the clock, not a bound: keys still fail closed.
    expect(clock.applyStateIat(IAT, 0)).toBe(true);
    expect(clock.nowMs(0)).toBe(IAT * 1000);
    expect(clock.tokenTime(0)).toBeUndefined();
    clock.applyTimeAnswer(cloudNow, 1000, 10_000);
    expect(clock.signed).toBe(true);
    expect(clock.nowMs(10_000)).toBe(cloudNow + 500);
    expect(clock.uncertaintyMs(10_000)).toBe(503);
    // A day later (local): + 2000 ppm × 86,400 s = 172.8 s.
    expect(clock.uncertaintyMs(10_000 + 86_400_000)).toBe(503 + 172_800);
    expect(clock.tokenTime(10_000)).toEqual({ now: Math.floor((cloudNow + 500) / 1000), uncertainty: 2 });
  });

  it("a state moves the clock forward to its iat, never back, and leaves the uncertainty as it was", () => {
    const clock = new LockClock();
    clock.applyTimeAnswer(IAT * 1000, 0, 0);
    const u = clock.uncertaintyMs(1000);
    expect(clock.applyStateIat(IAT - 10, 1000)).toBe(false);
    expect(clock.nowMs(1000)).toBe(IAT * 1000 + 1000);
    expect(clock.applyStateIat(IAT + 60, 1000)).toBe(true);
    expect(clock.nowMs(1000)).toBe((IAT + 60) * 1000);
    expect(clock.uncertaintyMs(1000)).toBe(u);
  });

  it("refuses a drift allowance out of range", () => {
    expect(() => new LockClock(-1)).toThrow(TypeError);
    expect(() => new LockClock(Number.NaN)).toThrow(TypeError);
  });
});
