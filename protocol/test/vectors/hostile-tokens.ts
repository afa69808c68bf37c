import { createHash, createHmac } from "node:crypto";
import {
  Alg,
  CborTag,
  ClaimLabel,
  cborHead,
  concatBytes,
  encodeCbor,
  encodeClaims,
  fromHex,
  HeaderLabel,
  KEY_TOKEN_TYP,
  type KeyClaims,
  keyPairFromSeed,
  nodeEd25519,
  SCHEDULE_HEADER_LABEL,
  signKeyToken,
  sigStructure,
  type TokenErrorCode,
} from "../../src/index.js";
import { cnfMap } from "./claims.js";

/**
 * A corpus of hand-made hostile key tokens, each with the code a lock must answer. They are built byte by byte where
 * an encoder would refuse (duplicate keys, indefinite lengths, non-shortest integers) and signed with the trusted
 * issuer's key where the attack is one only a signature could carry (a valid signature must not make them acceptable).
 */

const seed = (label: string) => new Uint8Array(createHash("sha256").update(`hostile-tokens/${label}`).digest());

export const ISSUER = keyPairFromSeed(seed("issuer"));
export const OTHER_ISSUER = keyPairFromSeed(seed("other issuer"));
export const DEVICE = keyPairFromSeed(seed("device"));
export const KID = fromHex("6b69642d686f7374696c65");
export const LOCK_ID = "lock-1";
export const NOW = 1_800_000_000;
export const LEEWAY = 60;
export const REVOKED_CTI = fromHex("ffeeddccbbaa99887766554433221100");

export type Expected = TokenErrorCode | "ok";

export interface HostileToken {
  name: string;
  token: Uint8Array;
  /** What the lock's unlock decision must answer (token checks, then the proof of possession). */
  expect: Expected;
  /** A proof to send instead of the device's real one (a forgery). */
  proof?: Uint8Array;
}

export function claims(overrides: Partial<KeyClaims> = {}): KeyClaims {
  return {
    iss: "latchkey",
    sub: "+4790000000",
    aud: LOCK_ID,
    exp: NOW + 3600,
    nbf: NOW - 600,
    iat: NOW - 600,
    cti: fromHex("00112233445566778899aabbccddeeff"),
    cnf: DEVICE.publicKey,
    ...overrides,
  };
}

const bstr = (bytes: Uint8Array) => concatBytes(cborHead(2, bytes.length), bytes);
const tstr = (text: string) => {
  const bytes = new TextEncoder().encode(text);
  return concatBytes(cborHead(3, bytes.length), bytes);
};
const cat = (...parts: Array<Uint8Array | number[]>) => concatBytes(...parts.map((p) => Uint8Array.from(p)));

const goodHeader = (): Map<number, unknown> =>
  new Map<number, unknown>([
    [HeaderLabel.alg, Alg.EdDSA],
    [HeaderLabel.kid, KID],
    [HeaderLabel.typ, KEY_TOKEN_TYP],
  ]);

/** The CWT claims map, entry by entry (label → encoded value), so entries can be dropped, doubled or re-encoded. */
function claimEntries(c: KeyClaims): Array<[number, Uint8Array]> {
  return [
    [ClaimLabel.iss, encodeCbor(c.iss)],
    [ClaimLabel.sub, encodeCbor(c.sub)],
    [ClaimLabel.aud, encodeCbor(c.aud)],
    [ClaimLabel.exp, encodeCbor(c.exp)],
    [ClaimLabel.nbf, encodeCbor(c.nbf)],
    [ClaimLabel.iat, encodeCbor(c.iat)],
    [ClaimLabel.cti, encodeCbor(c.cti)],
    [ClaimLabel.cnf, encodeCbor(cnfMap(c.cnf))],
  ];
}

function mapOf(entries: Array<[number | Uint8Array, Uint8Array]>, head = cborHead(5, entries.length)): Uint8Array {
  return concatBytes(
    head,
    ...entries.flatMap(([k, v]) => [typeof k === "number" ? encodeCbor(k) : k, v] as Uint8Array[]),
  );
}

interface Parts {
  protectedBytes?: Uint8Array;
  unprotected?: Uint8Array;
  payload?: Uint8Array;
  /** Signature bytes; default: the issuer's signature over the Sig_structure. */
  signature?: Uint8Array;
  secretKey?: Uint8Array;
  /** Tag bytes before the array (default tag 18). */
  tag?: Uint8Array;
}

/** A COSE_Sign1 assembled from raw parts: whatever they hold, the signature is computed as a real issuer would. */
export function assemble(p: Parts = {}): Uint8Array {
  const protectedBytes = p.protectedBytes ?? encodeCbor(goodHeader());
  const payload = p.payload ?? encodeClaims(claims());
  const signature =
    p.signature ??
    nodeEd25519.sign(sigStructure(protectedBytes, new Uint8Array(0), payload), p.secretKey ?? ISSUER.secretKey);
  return cat(p.tag ?? [0xd2], [0x84], bstr(protectedBytes), p.unprotected ?? [0xa0], bstr(payload), bstr(signature));
}

const header = (edit: (h: Map<number, unknown>) => void): Uint8Array => {
  const h = goodHeader();
  edit(h);
  return encodeCbor(h);
};

const payloadWith = (edit: (entries: Array<[number, Uint8Array]>) => Array<[number, Uint8Array]>, c = claims()) =>
  mapOf(edit(claimEntries(c)));

const flip = (bytes: Uint8Array, index: number) => {
  const out = new Uint8Array(bytes);
  out[index < 0 ? out.length + index : index]! ^= 0x01;
  return out;
};

/** Ed25519 group order L, little-endian: S + L is the same signature in non-canonical form. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
function nonCanonicalS(signature: Uint8Array): Uint8Array {
  const s = [...signature.subarray(32)].reduceRight((acc, b) => acc * 256n + BigInt(b), 0n) + L;
  const out = new Uint8Array(signature);
  let v = s;
  for (let i = 32; i < 64; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The eight small-order points and non-canonical encodings (y ≥ p) of Ed25519. */
export const WEAK_KEYS: Array<[string, Uint8Array]> = [
  ["identity", `01${"00".repeat(31)}`],
  ["order 2", `ec${"ff".repeat(30)}7f`],
  ["order 4 (0)", "00".repeat(32)],
  ["order 4 (sign)", `${"00".repeat(31)}80`],
  ["order 8 a", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"],
  ["order 8 b", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"],
  ["order 8 c", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"],
  ["order 8 d", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"],
  ["non-canonical y = p", `ed${"ff".repeat(30)}7f`],
  ["non-canonical y = p + 1", `ee${"ff".repeat(30)}7f`],
  ["non-canonical identity, sign bit", `01${"00".repeat(30)}80`],
].map(([name, hex]) => [name!, fromHex(hex!)]);

/** The corpus. The first entries are controls that must be accepted; everything after must be refused. */
export function hostileTokens(): HostileToken[] {
  const good = signKeyToken(claims(), { kid: KID, secretKey: ISSUER.secretKey });
  const goodSignature = good.subarray(good.length - 64);
  const other = signKeyToken(claims({ sub: "+4799999999" }), { kid: KID, secretKey: ISSUER.secretKey });
  const signedBy = (c: KeyClaims) => signKeyToken(c, { kid: KID, secretKey: ISSUER.secretKey });
  const t: HostileToken[] = [
    { name: "control: a good token", token: good, expect: "ok" },
    { name: "control: wrapped in the CWT tag 61", token: cat([0xd8, 0x3d], good), expect: "ok" },
    {
      name: "control: alg -19 (Ed25519)",
      token: assemble({ protectedBytes: header((h) => h.set(1, Alg.Ed25519)) }),
      expect: "ok",
    },
  ];
  const add = (name: string, token: Uint8Array, expect: Expected, proof?: Uint8Array) =>
    t.push({ name, token, expect, ...(proof ? { proof } : {}) });

  // ── malformed: structure ─────────────────────────────────────────────────────────────────────────────────────────
  add("empty input", new Uint8Array(0), "malformed");
  add("not CBOR (a lone break)", Uint8Array.of(0xff), "malformed");
  add("truncated in the middle", good.subarray(0, Math.floor(good.length / 2)), "malformed");
  add("one byte short", good.subarray(0, good.length - 1), "malformed");
  add("trailing byte after the token", cat(good, [0x00]), "malformed");
  add("a second token appended", cat(good, good), "malformed");
  add(
    "trailing bytes inside the signed payload",
    assemble({ payload: cat(encodeClaims(claims()), [0x00]) }),
    "malformed",
  );
  add("tag 61 around a bare array", cat([0xd8, 0x3d], good.subarray(1)), "malformed");
  add("tag 61 twice", cat([0xd8, 0x3d, 0xd8, 0x3d], good), "malformed");
  add("tag 17 (COSE_Mac0) instead of 18", assemble({ tag: Uint8Array.of(0xd1) }), "malformed");
  add("tag 98 (COSE_Sign) instead of 18", assemble({ tag: Uint8Array.of(0xd8, 0x62) }), "malformed");
  add("untagged COSE_Sign1 array", good.subarray(1), "malformed");
  add("tag 18 with a huge tag number encoding", cat([0xdb, 0, 0, 0, 0, 0, 0, 0, 18], good.subarray(1)), "malformed");
  add(
    "array of three",
    cat([0xd2, 0x83], bstr(encodeCbor(goodHeader())), [0xa0], bstr(encodeClaims(claims()))),
    "malformed",
  );
  add("array of five", cat([0xd2, 0x85], good.subarray(2), [0x40]), "malformed");
  add(
    "protected header as a map, not a byte string",
    cat([0xd2, 0x84], encodeCbor(goodHeader()), [0xa0], bstr(encodeClaims(claims())), bstr(goodSignature)),
    "malformed",
  );
  add("protected header bytes not a map", assemble({ protectedBytes: encodeCbor([1, -8]) }), "malformed");
  add(
    "detached payload (nil)",
    cat([0xd2, 0x84], bstr(encodeCbor(goodHeader())), [0xa0, 0xf6], bstr(goodSignature)),
    "malformed",
  );
  add("payload not a claims map", assemble({ payload: encodeCbor(["iss", "latchkey"]) }), "malformed");
  add("unprotected header holding the kid", assemble({ unprotected: encodeCbor(new Map([[4, KID]])) }), "malformed");
  add("unprotected header not a map", assemble({ unprotected: Uint8Array.of(0x80) }), "malformed");
  // ── malformed: encoding rules (signed, so only the decoder can catch them) ────────────────────────────────────
  add(
    "duplicate claim key (two aud)",
    assemble({ payload: payloadWith((e) => [...e, [3, encodeCbor("lock-2")]]) }),
    "malformed",
  );
  add(
    "duplicate claim key (two exp, the second later)",
    assemble({ payload: payloadWith((e) => [...e, [4, encodeCbor(NOW + 10 ** 8)]]) }),
    "malformed",
  );
  add(
    "duplicate protected header key (two alg)",
    assemble({
      protectedBytes: cat(
        [0xa4],
        encodeCbor(1),
        encodeCbor(-8),
        encodeCbor(4),
        encodeCbor(KID),
        encodeCbor(16),
        encodeCbor(KEY_TOKEN_TYP),
        encodeCbor(1),
        encodeCbor(-7),
      ),
    }),
    "malformed",
  );
  add(
    "duplicate key in the cnf COSE_Key",
    assemble({
      payload: payloadWith((e) =>
        e.map(([k, v]) =>
          k === ClaimLabel.cnf
            ? [
                k,
                cat(
                  [0xa1, 0x01, 0xa4],
                  encodeCbor(1),
                  encodeCbor(1),
                  encodeCbor(-1),
                  encodeCbor(6),
                  encodeCbor(-2),
                  encodeCbor(DEVICE.publicKey),
                  encodeCbor(-2),
                  encodeCbor(OTHER_ISSUER.publicKey),
                ),
              ]
            : [k, v],
        ),
      ),
    }),
    "malformed",
  );
  add("indefinite-length top array", cat([0xd2, 0x9f], good.subarray(2), [0xff]), "malformed");
  add(
    "indefinite-length claims map",
    assemble({ payload: cat([0xbf], payloadWith((e) => e).subarray(1), [0xff]) }),
    "malformed",
  );
  add(
    "indefinite-length text in a claim",
    assemble({
      payload: payloadWith((e) =>
        e.map(([k, v]) => (k === 2 ? [k, cat([0x7f], tstr("+4790"), tstr("000000"), [0xff])] : [k, v])),
      ),
    }),
    "malformed",
  );
  add(
    "non-shortest integer (exp in 8 bytes)",
    assemble({
      payload: payloadWith((e) =>
        e.map(([k, v]) => {
          if (k !== ClaimLabel.exp) return [k, v];
          const b = new Uint8Array(9);
          b[0] = 0x1b;
          new DataView(b.buffer).setBigUint64(1, BigInt(NOW + 3600));
          return [k, b];
        }),
      ),
    }),
    "malformed",
  );
  add(
    "non-shortest length of the payload string",
    cat(
      [0xd2, 0x84],
      bstr(encodeCbor(goodHeader())),
      [0xa0, 0x5a, 0, 0, 0, encodeClaims(claims()).length],
      encodeClaims(claims()),
      bstr(goodSignature),
    ),
    "malformed",
  );
  add(
    "float exp (a double)",
    assemble({
      payload: payloadWith((e) =>
        e.map(([k, v]) =>
          k === ClaimLabel.exp
            ? [k, cat([0xfb], new Uint8Array(new Float64Array([NOW + 3600]).buffer).reverse())]
            : [k, v],
        ),
      ),
    }),
    "malformed",
  );
  add(
    "NaN exp (a half float)",
    assemble({
      payload: payloadWith((e) =>
        e.map(([k, v]) => (k === ClaimLabel.exp ? [k, Uint8Array.of(0xf9, 0x7e, 0x00)] : [k, v])),
      ),
    }),
    "malformed",
  );
  add(
    "invalid UTF-8 in sub",
    assemble({
      payload: payloadWith((e) => e.map(([k, v]) => (k === 2 ? [k, Uint8Array.of(0x62, 0xc3, 0x28)] : [k, v]))),
    }),
    "malformed",
  );
  add(
    "map key of a forbidden type (bytes)",
    assemble({ payload: mapOf([...claimEntries(claims()), [bstr(Uint8Array.of(1)), encodeCbor(1)]]) }),
    "malformed",
  );
  // ── malformed: sizes and nesting ──────────────────────────────────────────────────────────────────────────────
  add("byte string claiming 2^64-1 bytes", cat([0xd2, 0x84, 0x5b], new Uint8Array(8).fill(0xff)), "malformed");
  add("byte string claiming 4 GiB", cat([0xd2, 0x84, 0x5a, 0xff, 0xff, 0xff, 0xff]), "malformed");
  add("array claiming 2^32 items", cat([0xd2, 0x9a, 0xff, 0xff, 0xff, 0xff]), "malformed");
  add(
    "claims map claiming 2^31 entries",
    assemble({ payload: cat([0xba, 0x80, 0, 0, 0], payloadWith((e) => e).subarray(1)) }),
    "malformed",
  );
  add("token over 2048 bytes", signedByIssuerOversize(), "malformed");
  add("one mebibyte of zeros", new Uint8Array(1 << 20), "malformed");
  add("deep nesting (1500 arrays)", cat(new Array(1500).fill(0x81), [0x00]), "malformed");
  add("deep nesting (tags)", cat(new Array(600).fill([0xd8, 0x3d]).flat(), good), "malformed");
  add(
    "deep nesting inside the signed claims",
    assemble({
      payload: payloadWith((e) => e.map(([k, v]) => (k === 2 ? [k, cat(new Array(40).fill(0x81), [0x00])] : [k, v]))),
    }),
    "malformed",
  );
  // ── unsupported_alg ───────────────────────────────────────────────────────────────────────────────────────────
  add("alg missing", assemble({ protectedBytes: header((h) => h.delete(1)) }), "unsupported_alg");
  add('alg "none" (text)', assemble({ protectedBytes: header((h) => h.set(1, "none")) }), "unsupported_alg");
  add(
    "alg 0 (reserved, i.e. none)",
    assemble({ protectedBytes: header((h) => h.set(1, 0)), signature: new Uint8Array(0) }),
    "unsupported_alg",
  );
  add(
    "alg -7 (ES256) with the Ed25519 signature",
    assemble({ protectedBytes: header((h) => h.set(1, -7)) }),
    "unsupported_alg",
  );
  add("alg -257 (RS256)", assemble({ protectedBytes: header((h) => h.set(1, -257)) }), "unsupported_alg");
  {
    // Algorithm confusion: HMAC-SHA256 keyed with the issuer's public key, which anyone knows.
    const protectedBytes = header((h) => h.set(1, 5));
    const payload = encodeClaims(claims());
    const mac = createHmac("sha256", ISSUER.publicKey)
      .update(sigStructure(protectedBytes, new Uint8Array(0), payload))
      .digest();
    add(
      "alg 5 (HMAC) keyed by the issuer's public key",
      assemble({ protectedBytes, payload, signature: mac }),
      "unsupported_alg",
    );
  }
  add(
    "alg only in the unprotected header",
    assemble({ protectedBytes: header((h) => h.delete(1)), unprotected: encodeCbor(new Map([[1, -8]])) }),
    "unsupported_alg",
  );
  add("alg -8 in the unprotected header too", assemble({ unprotected: encodeCbor(new Map([[1, -8]])) }), "malformed");
  add("crit naming an unknown label", assemble({ protectedBytes: header((h) => h.set(2, [99])) }), "unsupported_alg");
  add(
    "crit naming an unknown text label",
    assemble({ protectedBytes: header((h) => h.set(2, ["exp-check"])) }),
    "unsupported_alg",
  );
  add("crit empty", assemble({ protectedBytes: header((h) => h.set(2, [])) }), "unsupported_alg");
  add("crit not an array", assemble({ protectedBytes: header((h) => h.set(2, 16)) }), "unsupported_alg");
  // Recurring keys (docs/design.md section 2 "Schedule"): the schedule counts only as a critical header parameter.
  const S = SCHEDULE_HEADER_LABEL;
  add(
    "a schedule not listed in crit (an older lock would ignore it)",
    assemble({ protectedBytes: header((h) => h.set(S, [[5, 480, 600]])) }),
    "malformed",
  );
  add(
    "crit naming the schedule with none present",
    assemble({ protectedBytes: header((h) => h.set(2, [S])) }),
    "malformed",
  );
  add(
    "a schedule window ending before it starts",
    assemble({ protectedBytes: header((h) => h.set(2, [S]).set(S, [[5, 600, 480]])) }),
    "malformed",
  );
  add(
    "a schedule of 29 windows",
    assemble({
      protectedBytes: header((h) =>
        h.set(2, [S]).set(
          S,
          Array.from({ length: 29 }, () => [1, 0, 60]),
        ),
      ),
    }),
    "malformed",
  );
  add(
    "a recurring key at a lock whose signed state names no time zone",
    signedBy(claims({ sched: [{ day: 5, start: 480, end: 600 }] })),
    "no_timezone",
  );
  add(
    "typ another media type",
    assemble({ protectedBytes: header((h) => h.set(16, "application/cwt")) }),
    "unsupported_alg",
  );
  add("typ as a content-format number", assemble({ protectedBytes: header((h) => h.set(16, 61)) }), "unsupported_alg");
  add("typ missing", assemble({ protectedBytes: header((h) => h.delete(16)) }), "unsupported_alg");
  add(
    "typ in the unprotected header",
    assemble({ protectedBytes: header((h) => h.delete(16)), unprotected: encodeCbor(new Map([[16, KEY_TOKEN_TYP]])) }),
    "malformed",
  );
  // ── unknown_issuer ────────────────────────────────────────────────────────────────────────────────────────────
  add("kid missing", assemble({ protectedBytes: header((h) => h.delete(4)) }), "unknown_issuer");
  add("kid not trusted", assemble({ protectedBytes: header((h) => h.set(4, fromHex("0badc0de"))) }), "unknown_issuer");
  add("kid as text", assemble({ protectedBytes: header((h) => h.set(4, "kid-hostile")) }), "unknown_issuer");
  add("kid one byte longer", assemble({ protectedBytes: header((h) => h.set(4, cat(KID, [0]))) }), "unknown_issuer");
  // ── bad_signature ─────────────────────────────────────────────────────────────────────────────────────────────
  add("signed by another key under the trusted kid", assemble({ secretKey: OTHER_ISSUER.secretKey }), "bad_signature");
  add("signed by the device key", assemble({ secretKey: DEVICE.secretKey }), "bad_signature");
  add("one bit of the signature flipped", flip(good, -1), "bad_signature");
  add(
    "one bit of the payload flipped (aud)",
    assemble({ payload: encodeClaims(claims({ aud: "lock-0" })), signature: goodSignature }),
    "bad_signature",
  );
  add(
    "exp pushed a year later, signature kept",
    assemble({ payload: encodeClaims(claims({ exp: NOW + 3600 + 31_536_000 })), signature: goodSignature }),
    "bad_signature",
  );
  add(
    "signature over the payload only",
    assemble({ signature: nodeEd25519.sign(encodeClaims(claims()), ISSUER.secretKey) }),
    "bad_signature",
  );
  add(
    "signature over a Sig_structure with external_aad",
    assemble({
      signature: nodeEd25519.sign(
        sigStructure(encodeCbor(goodHeader()), Uint8Array.of(1), encodeClaims(claims())),
        ISSUER.secretKey,
      ),
    }),
    "bad_signature",
  );
  add(
    "signature of the -19 header moved onto the -8 header",
    assemble({ signature: assemble({ protectedBytes: header((h) => h.set(1, Alg.Ed25519)) }).subarray(-64) }),
    "bad_signature",
  );
  add("signature transplanted from another token", assemble({ signature: other.subarray(-64) }), "bad_signature");
  add("signature truncated to 63 bytes", assemble({ signature: goodSignature.subarray(0, 63) }), "bad_signature");
  add("signature with a byte added", assemble({ signature: cat(goodSignature, [0]) }), "bad_signature");
  add("signature empty", assemble({ signature: new Uint8Array(0) }), "bad_signature");
  add("signature all zeros", assemble({ signature: new Uint8Array(64) }), "bad_signature");
  add(
    "signature with S + L (non-canonical, malleable)",
    assemble({ signature: nonCanonicalS(goodSignature) }),
    "bad_signature",
  );
  add(
    "signature with a small-order R and S = 0",
    assemble({ signature: cat(WEAK_KEYS[0]![1], new Uint8Array(32)) }),
    "bad_signature",
  );
  // ── missing_claim ─────────────────────────────────────────────────────────────────────────────────────────────
  for (const [name, label] of Object.entries(ClaimLabel))
    add(
      `claim ${name} missing`,
      assemble({ payload: payloadWith((e) => e.filter(([k]) => k !== label)) }),
      "missing_claim",
    );
  add(
    "exp as text",
    assemble({ payload: payloadWith((e) => e.map(([k, v]) => (k === 4 ? [k, encodeCbor("2027-01-15")] : [k, v]))) }),
    "missing_claim",
  );
  add(
    "exp as a date tag",
    assemble({
      payload: payloadWith((e) => e.map(([k, v]) => (k === 4 ? [k, encodeCbor(new CborTag(1, NOW + 3600))] : [k, v]))),
    }),
    "missing_claim",
  );
  add(
    "exp beyond 2^53",
    assemble({
      payload: payloadWith((e) =>
        e.map(([k, v]) => (k === 4 ? [k, Uint8Array.of(0x1b, 0x00, 0x40, 0, 0, 0, 0, 0, 0)] : [k, v])),
      ),
    }),
    "missing_claim",
  );
  add("cti of 8 bytes", assemble({ payload: encodeClaimsLoose(claims({ cti: new Uint8Array(8) })) }), "missing_claim");
  add(
    "cti as text",
    assemble({
      payload: payloadWith((e) =>
        e.map(([k, v]) => (k === 7 ? [k, encodeCbor("00112233445566778899aabbccddeeff")] : [k, v])),
      ),
    }),
    "missing_claim",
  );
  add(
    "cnf of another key type (EC2)",
    assemble({
      payload: payloadWith((e) =>
        e.map(([k, v]) =>
          k === 8
            ? [
                k,
                cat(
                  [0xa1, 0x01],
                  encodeCbor(
                    new Map<number, unknown>([
                      [1, 2],
                      [-1, 1],
                      [-2, DEVICE.publicKey],
                    ]),
                  ),
                ),
              ]
            : [k, v],
        ),
      ),
    }),
    "missing_claim",
  );
  add(
    "cnf key of 31 bytes",
    assemble({ payload: encodeClaimsLoose(claims({ cnf: DEVICE.publicKey.subarray(1) })) }),
    "missing_claim",
  );
  add(
    "cnf without the COSE_Key",
    assemble({
      payload: payloadWith((e) => e.map(([k, v]) => (k === 8 ? [k, encodeCbor(new Map([[3, KID]]))] : [k, v]))),
    }),
    "missing_claim",
  );
  add("sub empty", assemble({ payload: encodeClaimsLoose(claims({ sub: "" })) }), "missing_claim");
  add("aud empty", assemble({ payload: encodeClaimsLoose(claims({ aud: "" })) }), "missing_claim");
  // ── wrong_lock, time, revocation ──────────────────────────────────────────────────────────────────────────────
  add("aud another lock", signedBy(claims({ aud: "lock-2" })), "wrong_lock");
  add("aud differing only in case", signedBy(claims({ aud: "LOCK-1" })), "wrong_lock");
  add(
    "aud with a trailing NUL",
    assemble({ payload: encodeClaimsLoose(claims({ aud: `${LOCK_ID}\u0000` })) }),
    "wrong_lock",
  );
  add("nbf just past the leeway", signedBy(claims({ nbf: NOW + LEEWAY + 1, exp: NOW + 7200 })), "not_yet_valid");
  add("nbf next year", signedBy(claims({ nbf: NOW + 31_536_000, exp: NOW + 31_536_000 + 3600 })), "not_yet_valid");
  add(
    "exp exactly at now - leeway",
    signedBy(claims({ exp: NOW - LEEWAY, nbf: NOW - 7200, iat: NOW - 7200 })),
    "expired",
  );
  add(
    "exp last year",
    signedBy(claims({ exp: NOW - 31_536_000, nbf: NOW - 31_536_000 - 3600, iat: NOW - 31_536_000 - 3600 })),
    "expired",
  );
  add("exp negative", assemble({ payload: encodeClaimsLoose(claims({ exp: -1, nbf: -100, iat: -100 })) }), "expired");
  add("cti on the revocation list", signedBy(claims({ cti: REVOKED_CTI })), "revoked");
  add(
    "cti on the revocation list, wrapped in tag 61",
    cat([0xd8, 0x3d], signedBy(claims({ cti: REVOKED_CTI }))),
    "revoked",
  );
  // ── the proof of possession (token valid; the device key it names is weak) ──────────────────────────────────
  // The proof is the classic forgery for small-order keys: R = the identity point, S = 0.
  const forged = cat(WEAK_KEYS[0]![1], new Uint8Array(32));
  for (const [name, key] of WEAK_KEYS)
    add(
      `cnf a weak device key (${name})`,
      assemble({ payload: encodeClaimsLoose(claims({ cnf: key })) }),
      "bad_proof",
      forged,
    );
  return t;
}

/** encodeClaims without signKeyToken's checks (they would refuse the hostile values). */
function encodeClaimsLoose(c: KeyClaims): Uint8Array {
  return mapOf(claimEntries(c));
}

function signedByIssuerOversize(): Uint8Array {
  return assemble({ payload: encodeClaimsLoose(claims({ iss: "x".repeat(2100) })) });
}
