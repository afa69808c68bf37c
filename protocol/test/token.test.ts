import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Alg,
  CborTag,
  ClaimLabel,
  encodeCbor,
  encodeClaims,
  fromHex,
  HeaderLabel,
  KEY_TOKEN_TYP,
  type KeyClaims,
  keyPairFromSeed,
  NonceBook,
  NonceRefusedError,
  nobleEd25519,
  signSign1,
  signUnlockProof,
  TrustStore,
  toHex,
  type VerifyKeyTokenOptions,
  verifyKeyToken,
  verifyUnlockProof,
  verifyUnlockRequest,
} from "../src/index.js";
import { claims, device, issuer, kid, NOW, seed, token, trust } from "./helpers.js";
import { claimsMap } from "./vectors/claims.js";

const options: VerifyKeyTokenOptions = { trust, lockId: "lock-1", now: NOW };

type Header = Map<number, unknown>;
const goodHeader = (): Header =>
  new Map<number, unknown>([
    [HeaderLabel.alg, Alg.EdDSA],
    [HeaderLabel.kid, kid],
    [HeaderLabel.typ, KEY_TOKEN_TYP],
  ]);

/** Signs arbitrary header and payload bytes with the trusted issuer key: a token only our own issuer could make. */
function craft(
  opts: { header?: Header; unprotected?: Header; payload?: Uint8Array; secretKey?: Uint8Array; tag61?: boolean } = {},
) {
  const bytes = signSign1({
    protectedHeader: (opts.header ?? goodHeader()) as never,
    unprotectedHeader: opts.unprotected as never,
    payload: opts.payload ?? encodeClaims(claims()),
    secretKey: opts.secretKey ?? issuer.secretKey,
  });
  if (!opts.tag61) return bytes;
  const out = new Uint8Array(bytes.length + 2);
  out.set([0xd8, 0x3d]);
  out.set(bytes, 2);
  return out;
}

function editedClaims(c: KeyClaims, edit: (m: Map<number, unknown>) => void): Uint8Array {
  const m = claimsMap(c);
  edit(m);
  return encodeCbor(m);
}

const code = (bytes: Uint8Array, o: Partial<VerifyKeyTokenOptions> = {}) => {
  const r = verifyKeyToken(bytes, { ...options, ...o });
  return r.ok ? "ok" : r.code;
};

describe("verifyKeyToken accepts", () => {
  it("a good token, with claims and kid", () => {
    const r = verifyKeyToken(token(), options);
    expect(r).toMatchObject({ ok: true, claims: { iss: "latchkey", sub: "+4790000000", aud: "lock-1" } });
    if (r.ok) {
      expect(toHex(r.kid)).toBe(toHex(kid));
      expect(toHex(r.claims.cnf)).toBe(toHex(device.publicKey));
    }
  });
  it("with the noble backend too", () => expect(code(token(), { backend: nobleEd25519 })).toBe("ok"));
  it("wrapped in the CWT tag 61", () => expect(code(craft({ tag61: true }))).toBe("ok"));
  it("with alg -19 (Ed25519)", () => {
    const h = goodHeader();
    h.set(HeaderLabel.alg, Alg.Ed25519);
    expect(code(craft({ header: h }))).toBe("ok");
  });
  it("with a crit header listing only understood labels", () => {
    const h = goodHeader();
    h.set(HeaderLabel.crit, [HeaderLabel.typ]);
    expect(code(craft({ header: h }))).toBe("ok");
  });
});

describe("verifyKeyToken rejects, each with its code", () => {
  it("malformed: not CBOR, wrong structure, oversized, indefinite, duplicate keys, trailing bytes", () => {
    expect(code(new Uint8Array([0xff]))).toBe("malformed");
    expect(code(encodeCbor([1, 2, 3]))).toBe("malformed");
    expect(code(new Uint8Array(0))).toBe("malformed");
    expect(code(craft({ payload: new Uint8Array(2100) }))).toBe("malformed");
    const good = token();
    expect(code(new Uint8Array([...good, 0x00]))).toBe("malformed");
    const indefinite = new Uint8Array(good);
    indefinite[1] = 0x9f; // the array head becomes indefinite-length
    expect(code(new Uint8Array([...indefinite, 0xff]))).toBe("malformed");
    // duplicate claim key inside the signed payload: a valid signature does not make it acceptable
    const dup = fromHex(`${toHex(encodeClaims(claims())).replace(/^a8/, "a9")}0401`);
    expect(code(craft({ payload: dup }))).toBe("malformed");
    expect(code(craft({ payload: encodeCbor([1]) }))).toBe("malformed");
    expect(code(craft({ unprotected: new Map([[HeaderLabel.kid, kid]]) }))).toBe("malformed");
    expect(code(encodeCbor(new CborTag(61, encodeCbor(1))))).toBe("malformed");
  });

  it("unsupported_alg: missing alg, alg none/other, alg only unprotected, unknown crit, wrong typ", () => {
    const without = goodHeader();
    without.delete(HeaderLabel.alg);
    expect(code(craft({ header: without }))).toBe("unsupported_alg");
    for (const alg of [0, -7, -257, 5, "EdDSA"]) {
      const h = goodHeader();
      h.set(HeaderLabel.alg, alg);
      expect(code(craft({ header: h }))).toBe("unsupported_alg");
    }
    expect(code(craft({ header: without, unprotected: new Map([[HeaderLabel.alg, Alg.EdDSA]]) }))).toBe(
      "unsupported_alg",
    );
    const crit = goodHeader();
    crit.set(HeaderLabel.crit, [99]);
    expect(code(craft({ header: crit }))).toBe("unsupported_alg");
    const typ = goodHeader();
    typ.set(HeaderLabel.typ, "application/cwt");
    expect(code(craft({ header: typ }))).toBe("unsupported_alg");
    const noTyp = goodHeader();
    noTyp.delete(HeaderLabel.typ);
    expect(code(craft({ header: noTyp }))).toBe("unsupported_alg");
  });

  it("unknown_issuer: no kid, or a kid not trusted", () => {
    const noKid = goodHeader();
    noKid.delete(HeaderLabel.kid);
    expect(code(craft({ header: noKid }))).toBe("unknown_issuer");
    const otherKid = goodHeader();
    otherKid.set(HeaderLabel.kid, fromHex("ff"));
    expect(code(craft({ header: otherKid }))).toBe("unknown_issuer");
  });

  it("bad_signature: another key, flipped bits, signature over other bytes, wrong signature length", () => {
    expect(code(craft({ secretKey: device.secretKey }))).toBe("bad_signature");
    const flipped = token();
    flipped[flipped.length - 5]! ^= 0x01;
    expect(code(flipped)).toBe("bad_signature");
    // a valid signature by the issuer, but over a different payload than the one carried
    const a = craft({ payload: encodeClaims(claims({ aud: "lock-2" })) });
    const b = craft();
    const swapped = new Uint8Array(b);
    swapped.set(a.subarray(a.length - 64), b.length - 64);
    expect(code(swapped)).toBe("bad_signature");
    // a short signature byte string
    const short = encodeCbor(
      new CborTag(18, [encodeCbor(goodHeader()), new Map(), encodeClaims(claims()), new Uint8Array(63)]),
    );
    expect(code(short)).toBe("bad_signature");
  });

  it("bad_signature: an issuer trusting a small-order key is refused at configuration", () => {
    expect(() => new TrustStore([{ kid, publicKey: fromHex(`01${"00".repeat(31)}`) }])).toThrow(/not a valid/);
  });

  it("missing_claim: each of the eight, or of the wrong type", () => {
    for (const label of Object.values(ClaimLabel)) {
      expect(code(craft({ payload: editedClaims(claims(), (m) => m.delete(label)) }))).toBe("missing_claim");
    }
    expect(code(craft({ payload: editedClaims(claims(), (m) => m.set(ClaimLabel.exp, "tomorrow")) }))).toBe(
      "missing_claim",
    );
    expect(code(craft({ payload: editedClaims(claims(), (m) => m.set(ClaimLabel.cti, new Uint8Array(8))) }))).toBe(
      "missing_claim",
    );
    expect(code(craft({ payload: editedClaims(claims(), (m) => m.set(ClaimLabel.sub, "")) }))).toBe("missing_claim");
    expect(
      code(craft({ payload: editedClaims(claims(), (m) => m.set(ClaimLabel.cnf, new Map([[1, new Map([[1, 2]])]]))) })),
    ).toBe("missing_claim");
  });

  it("wrong_lock", () => expect(code(token(), { lockId: "lock-2" })).toBe("wrong_lock"));

  it("not_yet_valid and expired, with the 60 s leeway at the edges", () => {
    const t = token({ nbf: NOW + 1000, exp: NOW + 5000 });
    expect(code(t)).toBe("not_yet_valid");
    expect(code(t, { now: NOW + 1000 - 61 })).toBe("not_yet_valid");
    expect(code(t, { now: NOW + 1000 - 60 })).toBe("ok");
    expect(code(t, { now: NOW + 5000 + 59 })).toBe("ok");
    expect(code(t, { now: NOW + 5000 + 60 })).toBe("expired");
    expect(code(t, { now: NOW + 5000, leeway: 0 })).toBe("expired");
    expect(code(t, { now: NOW + 4999, leeway: 0 })).toBe("ok");
  });

  it("revoked", () => {
    expect(code(token(), { revoked: new Set(["00112233445566778899aabbccddeeff"]) })).toBe("revoked");
    expect(code(token(), { revoked: new Set(["ffffffffffffffffffffffffffffffff"]) })).toBe("ok");
  });

  it("revoked: a list with revokes(cti, iat) is asked with the token's iat instead of has()", () => {
    const asked: [string, number][] = [];
    const list = {
      has: () => true,
      revokes: (cti: string, iat: number) => {
        asked.push([cti, iat]);
        return iat < NOW - 30;
      },
    };
    expect(code(token({ iat: NOW - 60 }), { revoked: list })).toBe("revoked");
    expect(code(token({ iat: NOW - 30 }), { revoked: list })).toBe("ok");
    expect(asked).toEqual([
      ["00112233445566778899aabbccddeeff", NOW - 60],
      ["00112233445566778899aabbccddeeff", NOW - 30],
    ]);
  });

  it("a clock's uncertainty narrows the window on both sides (fail closed); unknown uncertainty opens nothing", () => {
    const t = token({ nbf: NOW + 1000, exp: NOW + 5000 });
    expect(code(t, { now: NOW + 1000, leeway: 0, uncertainty: 0 })).toBe("ok");
    expect(code(t, { now: NOW + 1000, leeway: 0, uncertainty: 1 })).toBe("not_yet_valid");
    expect(code(t, { now: NOW + 4000, leeway: 0, uncertainty: 999 })).toBe("ok");
    expect(code(t, { now: NOW + 4000, leeway: 0, uncertainty: 1000 })).toBe("expired");
    expect(code(t, { now: NOW + 3000, uncertainty: Number.POSITIVE_INFINITY })).not.toBe("ok");
    expect(code(t, { now: NOW + 3000, uncertainty: Number.NaN })).not.toBe("ok");
  });

  it("reports the first failure in the contract's order", () => {
    // wrong lock, expired and revoked all at once: wrong_lock comes first
    const t = token({ aud: "lock-9", exp: NOW - 1000, nbf: NOW - 2000 });
    expect(code(t, { revoked: new Set(["00112233445566778899aabbccddeeff"]) })).toBe("wrong_lock");
    // bad signature and wrong lock: bad_signature first
    expect(code(craft({ secretKey: device.secretKey, payload: encodeClaims(claims({ aud: "x" })) }))).toBe(
      "bad_signature",
    );
  });
});

describe("properties", () => {
  it("random bytes are rejected with a typed code, never an exception", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const r = verifyKeyToken(bytes, options);
        expect(r.ok).toBe(false);
      }),
      { seed: 1, numRuns: 3000 },
    );
  });

  it("any mutation of a valid token is rejected", () => {
    const good = token();
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant("flip" as const),
        at: fc.nat(good.length - 1),
        bit: fc.integer({ min: 0, max: 7 }),
      }),
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat(good.length - 1) }),
      fc.record({ kind: fc.constant("insert" as const), at: fc.nat(good.length), byte: fc.nat(255) }),
    );
    fc.assert(
      fc.property(mutation, (m) => {
        let bytes: Uint8Array;
        if (m.kind === "flip") {
          bytes = new Uint8Array(good);
          bytes[m.at]! ^= 1 << m.bit;
        } else if (m.kind === "truncate") {
          bytes = good.subarray(0, m.at);
        } else {
          bytes = new Uint8Array([...good.subarray(0, m.at), m.byte, ...good.subarray(m.at)]);
        }
        const r = verifyKeyToken(bytes, options);
        expect(r.ok).toBe(false);
      }),
      { seed: 2, numRuns: 3000 },
    );
  });
});

describe("unlock proof and request", () => {
  const nonce = fromHex("000102030405060708090a0b0c0d0e0f");
  const t = token();

  it("verifies a proof by the cnf key and refuses one by another key, lock, nonce or token", () => {
    const proof = signUnlockProof({ lockId: "lock-1", nonce, token: t, deviceSecretKey: device.secretKey });
    const input = { lockId: "lock-1", nonce, token: t, proof, devicePublicKey: device.publicKey };
    expect(verifyUnlockProof(input)).toBe(true);
    expect(verifyUnlockProof(input, nobleEd25519)).toBe(true);
    expect(verifyUnlockProof({ ...input, lockId: "lock-2" })).toBe(false);
    expect(verifyUnlockProof({ ...input, nonce: new Uint8Array(16) })).toBe(false);
    expect(verifyUnlockProof({ ...input, token: token({ sub: "+4791111111" }) })).toBe(false);
    expect(verifyUnlockProof({ ...input, devicePublicKey: issuer.publicKey })).toBe(false);
    expect(verifyUnlockProof({ ...input, devicePublicKey: fromHex(`01${"00".repeat(31)}`) })).toBe(false);
  });

  it("accepts once; a replay, a stale nonce or a stranger's proof is bad_proof", () => {
    const nonces = new NonceBook();
    const nowMs = NOW * 1000;
    nonces.issue(nonce, nowMs);
    const proof = signUnlockProof({ lockId: "lock-1", nonce, token: t, deviceSecretKey: device.secretKey });
    const request = { token: t, proof, nonce };
    expect(verifyUnlockRequest(request, { ...options, nonces, nowMs })).toMatchObject({ ok: true });
    expect(verifyUnlockRequest(request, { ...options, nonces, nowMs })).toMatchObject({ ok: false, code: "bad_proof" });

    nonces.issue(nonce, nowMs);
    expect(verifyUnlockRequest(request, { ...options, nonces, nowMs: nowMs + 30_001 })).toMatchObject({
      ok: false,
      code: "bad_proof",
      message: "the challenge expired",
    });

    const stranger = keyPairFromSeed(seed("stranger"));
    nonces.issue(nonce, nowMs);
    const forged = signUnlockProof({ lockId: "lock-1", nonce, token: t, deviceSecretKey: stranger.secretKey });
    expect(verifyUnlockRequest({ ...request, proof: forged }, { ...options, nonces, nowMs })).toMatchObject({
      code: "bad_proof",
    });
  });

  it("reports the token's failure before the proof's, and burns the nonce either way", () => {
    const nonces = new NonceBook();
    const nowMs = NOW * 1000;
    nonces.issue(nonce, nowMs);
    const expired = token({ exp: NOW - 1000, nbf: NOW - 2000 });
    const proof = signUnlockProof({ lockId: "lock-1", nonce, token: expired, deviceSecretKey: device.secretKey });
    expect(verifyUnlockRequest({ token: expired, proof, nonce }, { ...options, nonces, nowMs })).toMatchObject({
      code: "expired",
    });
    expect(nonces.size).toBe(0);
  });

  it("keeps the nonce book bounded by refusing, never by evicting a live nonce (review 12.8)", () => {
    const nonces = new NonceBook(30_000, 4);
    const n = (i: number) => new Uint8Array(16).fill(i);
    for (let i = 0; i < 4; i++) expect(nonces.offer(n(i), i)).toMatchObject({ ok: true });
    // A flood of further challenges is refused: the first one (a phone's, say) stays answerable.
    for (let i = 4; i < 10; i++) expect(nonces.offer(n(i), i)).toEqual({ ok: false, refusal: "book_full" });
    expect(() => nonces.issue(n(10), 10)).toThrow(NonceRefusedError);
    expect(nonces.size).toBe(4);
    expect(nonces.consume(n(0), 10)).toBe("ok");
    expect(nonces.consume(n(9), 10)).toBe("unknown");
    // Room again once one is used, or once they expire (30 s: the bound of the denial of service).
    expect(nonces.offer(n(11), 11)).toMatchObject({ ok: true });
    expect(nonces.offer(n(12), 12)).toEqual({ ok: false, refusal: "book_full" });
    expect(nonces.offer(n(13), 30_004)).toMatchObject({ ok: true });
    expect(nonces.size).toBe(2);
  });

  it("limits each holder to its share of live nonces and forgets a holder's nonces when it goes (review 12.8)", () => {
    const nonces = new NonceBook(30_000, 8);
    const n = (i: number) => new Uint8Array(16).fill(i);
    const stranger = { id: "conn-1", max: 2 };
    const phone = { id: "conn-2", max: 2 };
    expect(nonces.offer(n(1), 0, stranger)).toMatchObject({ ok: true });
    expect(nonces.offer(n(2), 0, stranger)).toMatchObject({ ok: true });
    expect(nonces.offer(n(3), 0, stranger)).toEqual({ ok: false, refusal: "holder_limit" });
    // Using one frees the holder's share; expiry does too.
    expect(nonces.consume(n(1), 1)).toBe("ok");
    expect(nonces.offer(n(5), 1, stranger)).toMatchObject({ ok: true });
    expect(nonces.offer(n(7), 1, stranger)).toEqual({ ok: false, refusal: "holder_limit" });
    expect(nonces.offer(n(4), 20_000, phone)).toMatchObject({ ok: true });
    expect(nonces.offer(n(6), 30_002, stranger)).toMatchObject({ ok: true });
    // The stranger's connection closes: its nonces go, the phone's stays.
    nonces.release("conn-1");
    expect(nonces.consume(n(6), 30_003)).toBe("unknown");
    expect(nonces.consume(n(4), 30_003)).toBe("ok");
  });

  it("take answers when a nonce was issued, and burns it like consume", () => {
    const nonces = new NonceBook();
    const nonce = new Uint8Array(16).fill(7);
    nonces.issue(nonce, 1000);
    expect(nonces.take(nonce, 1800)).toEqual({ state: "ok", issuedAtMs: 1000 });
    expect(nonces.take(nonce, 1800)).toEqual({ state: "unknown" });
    nonces.issue(nonce, 1000);
    expect(nonces.take(nonce, 31_001)).toEqual({ state: "expired", issuedAtMs: 1000 });
    expect(nonces.take(new Uint8Array(3), 0)).toEqual({ state: "unknown" });
  });
});
