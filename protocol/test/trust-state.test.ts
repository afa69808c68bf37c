import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Alg,
  CborTag,
  type CborValue,
  type Ed25519Backend,
  encodeCbor,
  HeaderLabel,
  isProtocolError,
  isStateStale,
  MAX_STATE_BYTES,
  nodeEd25519,
  pinTag,
  StateLabel,
  StateRevocations,
  signHandOver,
  signLockState,
  signRemoteCommand,
  signSign1,
  signTimeAnswer,
  TrustHeaderLabel,
  TrustTyp,
  trustedIssuers,
  type VerifyLockStateOptions,
  verifyHandOver,
  verifyKeyToken,
  verifyLockState,
} from "../src/index.js";
import { signDocument } from "../src/trust/document.js";
import { encodeStatePayload } from "../src/trust/state.js";
import { claims, device, issuer, kid, seed, token } from "./helpers.js";
import {
  authority,
  claimSecret,
  IAT,
  LOCK,
  newAuthority,
  otherAuthority,
  signedState,
  state,
} from "./trust-helpers.js";

const pinned: VerifyLockStateOptions = { lockId: LOCK, authority: authority.publicKey };

/** A backend that counts verifications: proves a refusal came before any signature check. */
function counting(): Ed25519Backend & { calls: number } {
  const b = {
    ...nodeEd25519,
    calls: 0,
    verify(sig: Uint8Array, msg: Uint8Array, key: Parameters<Ed25519Backend["verify"]>[2]) {
      b.calls++;
      return nodeEd25519.verify(sig, msg, key);
    },
  };
  return b;
}

function codeOf(bytes: Uint8Array, options: VerifyLockStateOptions = pinned): string {
  const verdict = verifyLockState(bytes, options);
  return verdict.ok ? "ok" : verdict.code;
}

/** Signs a state payload edited after encoding: what only a buggy or hostile authority could produce. */
function signPayload(edit: (m: Map<number, unknown>) => void, header?: Map<number, unknown>): Uint8Array {
  const payload = encodeStatePayload(state());
  edit(payload);
  return signDocument({ typ: TrustTyp.state, payload, secretKey: authority.secretKey, header });
}

describe("signed lock state: codec", () => {
  it("round-trips every field, the optional ones included", () => {
    const full = state({
      maxStale: 7 * 86_400,
      tz: "Europe/Oslo",
      minIat: IAT - 86_400,
      revoked: [{ cti: seed("a").subarray(0, 16) }, { cti: seed("b").subarray(0, 16), before: IAT - 5 }],
    });
    const verdict = verifyLockState(signLockState(full, { secretKey: authority.secretKey }), pinned);
    expect(verdict).toMatchObject({ ok: true, pin: "kept", state: full });
    if (verdict.ok) expect(verdict.authority).toEqual(authority.publicKey);
    const minimal = verifyLockState(signedState({ issuers: [], revoked: [] }), pinned);
    expect(minimal.ok && minimal.state).toEqual(state({ issuers: [], revoked: [] }));
  });

  it("round-trips any valid state (property)", () => {
    const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
    const uint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(
        fc.record({
          v: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
          iat: uint,
          ack: uint,
          revoked: fc.array(
            fc.oneof(
              bytes16.map((cti) => ({ cti })),
              fc.record({ cti: bytes16, before: uint }),
            ),
            { maxLength: 20 },
          ),
          tz: fc.option(fc.constantFrom("UTC", "Europe/Oslo", "America/Argentina/Buenos_Aires"), { nil: undefined }),
          maxStale: fc.option(uint, { nil: undefined }),
        }),
        (fields) => {
          const s = state(fields);
          if (s.tz === undefined) delete s.tz;
          if (s.maxStale === undefined) delete s.maxStale;
          const verdict = verifyLockState(signLockState(s, { secretKey: authority.secretKey }), pinned);
          expect(verdict.ok && verdict.state).toEqual(s);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("signing refuses a state out of shape, an unsafe v among them", () => {
    const sign = (o: Parameters<typeof state>[0]) => () => signLockState(state(o), { secretKey: authority.secretKey });
    expect(sign({ v: 2 ** 53 })).toThrow(TypeError);
    expect(sign({ v: 0 })).toThrow(TypeError);
    expect(sign({ v: 1.5 })).toThrow(TypeError);
    expect(sign({ lock: "a/b" })).toThrow(TypeError);
    expect(sign({ revoked: [{ cti: new Uint8Array(15) }] })).toThrow(TypeError);
    expect(sign({ reportKey: { id: new Uint8Array(0), x: new Uint8Array(32) } })).toThrow(TypeError);
  });

  it(`a state over ${MAX_STATE_BYTES} bytes is not signed (too_large); one at the cap verifies`, () => {
    const revoked = (n: number) => Array.from({ length: n }, (_, i) => ({ cti: seed(`r${i}`).subarray(0, 16) }));
    // The full-revocation entries are 20 bytes each: find the most that fit.
    const fits = (n: number) =>
      encodeCbor(encodeStatePayload(state({ revoked: revoked(n) }))).length + 200 <= MAX_STATE_BYTES;
    let n = 1;
    while (fits(n + 1)) n++;
    while (true) {
      try {
        signedState({ revoked: revoked(n + 1) });
        n++;
      } catch {
        break;
      }
    }
    const atCap = signedState({ revoked: revoked(n) });
    expect(atCap.length).toBeLessThanOrEqual(MAX_STATE_BYTES);
    expect(atCap.length).toBeGreaterThan(MAX_STATE_BYTES - 21);
    expect(codeOf(atCap)).toBe("ok");
    let code: string | undefined;
    try {
      signedState({ revoked: revoked(n + 1) });
    } catch (e) {
      code = isProtocolError(e) ? e.code : String(e);
    }
    expect(code).toBe("too_large");
  });
});

describe("signed lock state: every refusal, in order", () => {
  it("oversize is too_large before any signature check", () => {
    const big = signSign1({
      protectedHeader: new Map<number, unknown>([
        [HeaderLabel.alg, Alg.EdDSA],
        [HeaderLabel.kid, authority.publicKey],
        [HeaderLabel.typ, TrustTyp.state],
      ]) as never,
      payload: encodeCbor(new Map([[StateLabel.lock, "x".repeat(MAX_STATE_BYTES)]])),
      secretKey: authority.secretKey,
    });
    const backend = counting();
    expect(codeOf(big, { ...pinned, backend })).toBe("too_large");
    expect(codeOf(new Uint8Array(MAX_STATE_BYTES + 1), { ...pinned, backend })).toBe("too_large");
    expect(backend.calls).toBe(0);
  });

  it("deep nesting in the envelope is too_deep before any signature check; in the signed payload too_deep after", () => {
    let deep: unknown = 0;
    for (let i = 0; i < 40; i++) deep = [deep];
    const envelope = encodeCbor(
      new CborTag(18, [
        encodeCbor(new Map<number, unknown>([[HeaderLabel.alg, Alg.EdDSA]])),
        new Map([[99, deep as CborValue]]),
        new Uint8Array(4),
        new Uint8Array(64),
      ]),
    );
    const backend = counting();
    expect(codeOf(envelope, { ...pinned, backend })).toBe("too_deep");
    // Nested inside the protected header: decoded before the signature too.
    const header = signDocument({
      typ: TrustTyp.state,
      payload: encodeStatePayload(state()),
      secretKey: authority.secretKey,
      header: new Map([[-70000, deep]]),
    });
    expect(codeOf(header, { ...pinned, backend })).toBe("too_deep");
    expect(backend.calls).toBe(0);
    expect(codeOf(signPayload((m) => m.set(StateLabel.tz, deep)))).toBe("too_deep");
  });

  it("what is not a COSE_Sign1 trust envelope is malformed", () => {
    const good = signedState();
    expect(codeOf(new Uint8Array([0xff]))).toBe("malformed");
    expect(codeOf(good.subarray(0, good.length - 1))).toBe("malformed");
    expect(codeOf(new Uint8Array([...good, 0]))).toBe("malformed");
    expect(codeOf(Uint8Array.of(0xd8, 0x3d, ...good))).toBe("malformed"); // CWT tag 61
    expect(codeOf("state" as unknown as Uint8Array)).toBe("malformed");
    const withUnprotected = signSign1({
      protectedHeader: new Map<number, unknown>([
        [HeaderLabel.alg, Alg.EdDSA],
        [HeaderLabel.kid, authority.publicKey],
        [HeaderLabel.typ, TrustTyp.state],
      ]) as never,
      unprotectedHeader: new Map([[TrustHeaderLabel.pinTag, new Uint8Array(32)]]) as never,
      payload: encodeCbor(encodeStatePayload(state())),
      secretKey: authority.secretKey,
    });
    expect(codeOf(withUnprotected)).toBe("malformed");
    const shortKid = signSign1({
      protectedHeader: new Map<number, unknown>([
        [HeaderLabel.alg, Alg.EdDSA],
        [HeaderLabel.kid, authority.publicKey.subarray(0, 8)],
        [HeaderLabel.typ, TrustTyp.state],
      ]) as never,
      payload: encodeCbor(encodeStatePayload(state())),
      secretKey: authority.secretKey,
    });
    expect(codeOf(shortKid)).toBe("malformed");
  });

  it("another algorithm or an unknown critical header is unsupported_alg", () => {
    const withHeader = (alg: number, crit?: unknown[]) =>
      signSign1({
        protectedHeader: new Map<number, unknown>([
          [HeaderLabel.alg, alg],
          ...(crit ? [[HeaderLabel.crit, crit] as [number, unknown]] : []),
          [HeaderLabel.kid, authority.publicKey],
          [HeaderLabel.typ, TrustTyp.state],
        ]) as never,
        payload: encodeCbor(encodeStatePayload(state())),
        secretKey: authority.secretKey,
      });
    expect(codeOf(withHeader(-7))).toBe("unsupported_alg");
    expect(codeOf(withHeader(Alg.EdDSA, [77]))).toBe("unsupported_alg");
    expect(codeOf(withHeader(Alg.EdDSA, []))).toBe("unsupported_alg");
    expect(codeOf(withHeader(Alg.EdDSA, [TrustHeaderLabel.pinTag]))).toBe("ok");
    expect(codeOf(withHeader(Alg.Ed25519))).toBe("ok");
  });

  it("type confusion: a key token, a time answer, a command or a hand-over never passes as state (wrong_type)", () => {
    const nonce = new Uint8Array(16);
    const documents = {
      "key token": token(),
      "time answer": signTimeAnswer({ lock: LOCK, nonce, time: IAT * 1000 }, authority.secretKey),
      command: signRemoteCommand({ lock: LOCK, nonce, counter: 1, action: "unlock" }, authority.secretKey),
      "hand-over": signHandOver({ newKey: newAuthority.publicKey, fromV: 1 }, authority.secretKey),
    };
    for (const [name, bytes] of Object.entries(documents)) expect([name, codeOf(bytes)]).toEqual([name, "wrong_type"]);
    // Even a state-shaped payload under another typ.
    const relabelled = signDocument({
      typ: TrustTyp.timeAnswer,
      payload: encodeStatePayload(state()),
      secretKey: authority.secretKey,
    });
    expect(codeOf(relabelled)).toBe("wrong_type");
  });

  it("another lock holder's valid state is wrong_authority; a forged or tampered one is bad_signature", () => {
    expect(codeOf(signedState({}, { secretKey: otherAuthority.secretKey }))).toBe("wrong_authority");
    const good = signedState();
    const sigFlipped = new Uint8Array(good);
    sigFlipped[sigFlipped.length - 1]! ^= 1;
    expect(codeOf(sigFlipped)).toBe("bad_signature");
    // The ack raised by a courier who wants the lock to free events: byte 0x29 (41) in the payload.
    const at = good.lastIndexOf(0x29);
    const raised = new Uint8Array(good);
    raised[at] = 0x2a;
    expect(codeOf(raised)).toBe("bad_signature");
  });

  it("no single flipped bit is ever accepted (property)", () => {
    const good = signedState();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 7 }), (i, bit) => {
        const bad = new Uint8Array(good);
        bad[i]! ^= 1 << bit;
        expect(verifyLockState(bad, pinned).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("lock A's state at lock B is wrong_lock", () => {
    expect(codeOf(signedState({ lock: "lock-2" }))).toBe("wrong_lock");
  });

  it("an equal or older v is stale_version; a newer one is applied", () => {
    const v = 1_800_000_000_000;
    expect(codeOf(signedState({ v }), { ...pinned, currentV: v })).toBe("stale_version");
    expect(codeOf(signedState({ v: v - 1 }), { ...pinned, currentV: v })).toBe("stale_version");
    expect(codeOf(signedState({ v: v + 1 }), { ...pinned, currentV: v })).toBe("ok");
  });

  it("claims out of shape, an unsafe v among them, are invalid_claims", () => {
    expect(codeOf(signPayload((m) => m.set(StateLabel.v, 2n ** 53n + 1n)))).toBe("invalid_claims");
    expect(codeOf(signPayload((m) => m.set(StateLabel.v, 2 ** 60)))).toBe("invalid_claims");
    expect(codeOf(signPayload((m) => m.set(StateLabel.v, -1)))).toBe("invalid_claims");
    expect(codeOf(signPayload((m) => m.delete(StateLabel.reportKey)))).toBe("invalid_claims");
    expect(codeOf(signPayload((m) => m.set(StateLabel.lock, "a/b")))).toBe("invalid_claims");
    expect(codeOf(signPayload((m) => m.set(StateLabel.revoked, [new Map([[1, new Uint8Array(3)]])])))).toBe(
      "invalid_claims",
    );
    expect(codeOf(signPayload((m) => m.set(StateLabel.issuers, new Array(17).fill(0))))).toBe("invalid_claims");
    const notAMap = signDocument({ typ: TrustTyp.state, payload: new Map(), secretKey: authority.secretKey });
    expect(codeOf(notAMap)).toBe("invalid_claims");
  });

  it("a refused field is named with its place in the state: the list and the item", () => {
    const good = () => new Map([[1, new Uint8Array(16)]]);
    const message = (bytes: Uint8Array) => {
      const verdict = verifyLockState(bytes, pinned);
      return verdict.ok ? "ok" : verdict.message;
    };
    const shortCti = signPayload((m) => m.set(StateLabel.revoked, [good(), good(), new Map([[1, new Uint8Array(3)]])]));
    expect(message(shortCti)).toBe("state.revoked[2]: cti must be a 16-byte byte string");
    const notAMap = signPayload((m) => m.set(StateLabel.revoked, [good(), 7]));
    expect(message(notAMap)).toBe("state: revoked[1] must be a map");
    const badReportKey = signPayload((m) => m.set(StateLabel.reportKey, new Map([[1, new Uint8Array(0)]])));
    expect(message(badReportKey)).toBe("state.reportKey: id must be 1 to 32 bytes");
  });
});

describe("pinning an authority", () => {
  const unpinned: VerifyLockStateOptions = { lockId: LOCK, claimSecret };

  it("an unpinned lock pins the authority a valid pin tag vouches for", () => {
    const verdict = verifyLockState(signedState({}, { pin: true }), unpinned);
    expect(verdict).toMatchObject({ ok: true, pin: "first" });
    if (verdict.ok) expect(verdict.authority).toEqual(authority.publicKey);
    // Once pinned, a pin tag is neither needed nor used.
    expect(codeOf(signedState({}, { pin: true }))).toBe("ok");
  });

  it("without a pin tag, with a swapped or foreign one, or without the secret: bad_pin, before the signature", () => {
    const backend = counting();
    const at = (o: VerifyLockStateOptions) => ({ ...o, backend });
    expect(codeOf(signedState(), at(unpinned))).toBe("bad_pin");
    // Another lock holder's authority with lock A's authority's tag (the tag does not move to another key).
    const swapped = signLockState(state(), {
      secretKey: otherAuthority.secretKey,
      pinTag: pinTag(claimSecret, LOCK, authority.publicKey),
    });
    expect(codeOf(swapped, at(unpinned))).toBe("bad_pin");
    // A tag made for lock-2 (another lock's label), or guessed without the secret.
    const forLock2 = signLockState(state(), {
      secretKey: authority.secretKey,
      pinTag: pinTag(claimSecret, "lock-2", authority.publicKey),
    });
    expect(codeOf(forLock2, at(unpinned))).toBe("bad_pin");
    const guessed = signLockState(state(), { secretKey: authority.secretKey, pinTag: new Uint8Array(32) });
    expect(codeOf(guessed, at(unpinned))).toBe("bad_pin");
    expect(codeOf(signedState({}, { pin: true }), at({ lockId: LOCK }))).toBe("bad_pin");
    const notBytes = signPayload(() => {}, new Map([[TrustHeaderLabel.pinTag, "tag"]]));
    expect(codeOf(notBytes, at(unpinned))).toBe("bad_pin");
    expect(backend.calls).toBe(0);
  });
});

describe("hand-over", () => {
  const fromV = 1_900_000_000_000;
  const handOver = signHandOver({ newKey: newAuthority.publicKey, fromV }, authority.secretKey);
  const byNew = (o: Parameters<typeof state>[0] = {}, h: Uint8Array = handOver) =>
    signedState({ v: fromV, ...o }, { secretKey: newAuthority.secretKey, handOver: h });

  it("round-trips on its own", () => {
    const verdict = verifyHandOver(handOver, { authority: authority.publicKey });
    expect(verdict).toMatchObject({ ok: true, handOver: { newKey: newAuthority.publicKey, fromV } });
    expect(verifyHandOver(handOver, { authority: otherAuthority.publicKey })).toMatchObject({
      ok: false,
      code: "wrong_authority",
    });
  });

  it("type confusion and size: a state, a time answer or a command is never a hand-over; oversize is too_large", () => {
    const nonce = new Uint8Array(16);
    const others = [
      signedState(),
      signTimeAnswer({ lock: LOCK, nonce, time: IAT * 1000 }, authority.secretKey),
      signRemoteCommand({ lock: LOCK, nonce, counter: 1, action: "unlock" }, authority.secretKey),
      token(),
    ];
    for (const doc of others) {
      expect(verifyHandOver(doc, { authority: authority.publicKey })).toMatchObject({ ok: false, code: "wrong_type" });
    }
    expect(verifyHandOver(new Uint8Array(513), { authority: authority.publicKey })).toMatchObject({
      code: "too_large",
    });
  });

  it("a lock pinned to the old authority takes a state by the new one carrying the hand-over, and pins the new key", () => {
    const verdict = verifyLockState(byNew(), pinned);
    expect(verdict).toMatchObject({ ok: true, pin: "handover" });
    if (verdict.ok) expect(verdict.authority).toEqual(newAuthority.publicKey);
  });

  it("after the hand-over the old authority is refused, with or without a hand-over of its own", () => {
    const afterwards: VerifyLockStateOptions = { lockId: LOCK, authority: newAuthority.publicKey, currentV: fromV };
    expect(codeOf(signedState({ v: fromV + 1 }), afterwards)).toBe("wrong_authority");
    const back = signHandOver({ newKey: authority.publicKey, fromV: fromV + 1 }, authority.secretKey);
    expect(codeOf(signedState({ v: fromV + 1 }, { handOver: back }), afterwards)).toBe("bad_handover");
    expect(codeOf(byNew({ v: fromV + 1 }), afterwards)).toBe("ok");
  });

  it("a forged hand-over, one naming another key, one of another typ, or one below its fromV is bad_handover", () => {
    const forged = signHandOver({ newKey: newAuthority.publicKey, fromV }, otherAuthority.secretKey);
    expect(codeOf(byNew({}, forged))).toBe("bad_handover");
    const toOther = signHandOver({ newKey: otherAuthority.publicKey, fromV }, authority.secretKey);
    expect(codeOf(byNew({}, toOther))).toBe("bad_handover");
    expect(codeOf(byNew({}, signedState()))).toBe("bad_handover");
    const tampered = new Uint8Array(handOver);
    tampered[tampered.length - 70]! ^= 1;
    expect(codeOf(byNew({}, tampered))).toBe("bad_handover");
    expect(codeOf(byNew({ v: fromV - 1 }))).toBe("bad_handover");
    const notBytes = signDocument({
      typ: TrustTyp.state,
      payload: encodeStatePayload(state({ v: fromV })),
      secretKey: newAuthority.secretKey,
      header: new Map([[TrustHeaderLabel.handOver, 7]]),
    });
    expect(codeOf(notBytes)).toBe("bad_handover");
  });
});

describe("applying a state to key tokens", () => {
  const now = 1_800_000_000;
  const time = { now, uncertainty: 0 };
  const trust = trustedIssuers(state({ issuers: [{ kid, x: issuer.publicKey, notAfter: now + 3600 }] }), time);
  const verify = (t: Uint8Array, revoked: StateRevocations) =>
    verifyKeyToken(t, { trust, lockId: "lock-1", now, revoked });

  it("before: only tokens of that key issued before it are revoked, so a re-minted token opens", () => {
    const cti = claims().cti;
    const revoked = new StateRevocations({ revoked: [{ cti, before: now - 30 }] });
    expect(verify(token({ iat: now - 60 }), revoked)).toMatchObject({ ok: false, code: "revoked" });
    expect(verify(token({ iat: now - 30 }), revoked).ok).toBe(true);
    expect(verify(token({ iat: now - 60 }), new StateRevocations({ revoked: [{ cti }] }))).toMatchObject({
      code: "revoked",
    });
    expect(revoked.has("00".repeat(16))).toBe(false);
  });

  it("minIat refuses every token issued before it", () => {
    const revoked = new StateRevocations({ revoked: [], minIat: now - 30 });
    expect(verify(token({ iat: now - 60 }), revoked)).toMatchObject({ ok: false, code: "revoked" });
    expect(verify(token({ iat: now - 30 }), revoked).ok).toBe(true);
  });

  it("an issuer past notAfter (+ leeway, + the clock's uncertainty) is no longer trusted", () => {
    const s = state({ issuers: [{ kid, x: issuer.publicKey, notAfter: now }] });
    expect(trustedIssuers(s, { now: now + 59, uncertainty: 0 }).size).toBe(1);
    expect(trustedIssuers(s, { now: now + 60, uncertainty: 0 }).size).toBe(0);
    expect(trustedIssuers(s, { now: now + 30, uncertainty: 30 }).size).toBe(0);
    expect(trustedIssuers(state({ issuers: [{ kid, x: new Uint8Array(32), notAfter: now + 1e6 }] }), time).size).toBe(
      0,
    );
  });

  it("maxStale: a state older than it (on the doubtful side of the clock) opens nothing", () => {
    expect(isStateStale({ iat: now - 100 }, time)).toBe(false);
    expect(isStateStale({ iat: now - 100, maxStale: 100 }, time)).toBe(false);
    expect(isStateStale({ iat: now - 100, maxStale: 100 }, { now, uncertainty: 1 })).toBe(true);
  });

  it("the clock's uncertainty narrows a key's window on both sides", () => {
    const none = new StateRevocations({ revoked: [] });
    const t = token({ nbf: now, exp: now + 1000 });
    const at = (n: number, u: number) =>
      verifyKeyToken(t, { trust, lockId: "lock-1", now: n, revoked: none, leeway: 0, uncertainty: u });
    expect(at(now + 10, 10).ok).toBe(true);
    expect(at(now + 10, 11)).toMatchObject({ code: "not_yet_valid" });
    expect(at(now + 989, 10).ok).toBe(true);
    expect(at(now + 990, 10)).toMatchObject({ code: "expired" });
    expect(at(now + 500, Number.POSITIVE_INFINITY).ok).toBe(false);
    expect(at(now + 500, Number.NaN).ok).toBe(false);
    expect(device.publicKey).toHaveLength(32);
  });
});
