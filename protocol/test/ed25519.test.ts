import { describe, expect, it } from "vitest";
import { fromHex, isStrongPublicKey, keyPairFromSeed, nobleEd25519, nodeEd25519, toHex } from "../src/index.js";
import { fixture } from "./helpers.js";

interface RfcVector {
  name: string;
  secretKey: string;
  publicKey: string;
  message: string;
  signature: string;
}
interface WycheproofTest {
  tcId: number;
  comment: string;
  msg: string;
  sig: string;
  result: "valid" | "invalid" | "acceptable";
}
interface Wycheproof {
  numberOfTests: number;
  testGroups: { publicKey: { pk: string }; tests: WycheproofTest[] }[];
}

const backends = [nodeEd25519, nobleEd25519];
const rfc = fixture<RfcVector[]>("rfc8032-ed25519.json");
const wycheproof = fixture<Wycheproof>("wycheproof-ed25519.json");

describe.each(backends)("Ed25519 backend $name", (backend) => {
  it.each(rfc)("reproduces RFC 8032 section 7.1 $name", (v) => {
    const secret = fromHex(v.secretKey);
    expect(toHex(backend.getPublicKey(secret))).toBe(v.publicKey);
    expect(toHex(backend.sign(fromHex(v.message), secret))).toBe(v.signature);
    expect(backend.verify(fromHex(v.signature), fromHex(v.message), fromHex(v.publicKey))).toBe(true);
  });

  it(`agrees with all ${wycheproof.numberOfTests} Wycheproof vectors`, () => {
    let checked = 0;
    for (const group of wycheproof.testGroups) {
      const pk = fromHex(group.publicKey.pk);
      for (const t of group.tests) {
        const ok = backend.verify(fromHex(t.sig), fromHex(t.msg), pk);
        expect({ tcId: t.tcId, comment: t.comment, ok }).toEqual({
          tcId: t.tcId,
          comment: t.comment,
          ok: t.result === "valid",
        });
        checked++;
      }
    }
    expect(checked).toBe(wycheproof.numberOfTests);
  });

  it("answers false, never throws, for wrong lengths and garbage", () => {
    const { publicKey } = keyPairFromSeed(new Uint8Array(32).fill(7), backend);
    expect(backend.verify(new Uint8Array(63), new Uint8Array(1), publicKey)).toBe(false);
    expect(backend.verify(new Uint8Array(64), new Uint8Array(1), new Uint8Array(31))).toBe(false);
    expect(backend.verify(new Uint8Array(64).fill(0xff), new Uint8Array(1), new Uint8Array(32).fill(0xff))).toBe(false);
  });
});

describe("backends agree", () => {
  it("on signatures and keys for many seeds", () => {
    for (let i = 0; i < 64; i++) {
      const seed = new Uint8Array(32).fill(i);
      const message = new Uint8Array(i * 7).fill(i ^ 0x5a);
      expect(toHex(nobleEd25519.getPublicKey(seed))).toBe(toHex(nodeEd25519.getPublicKey(seed)));
      expect(toHex(nobleEd25519.sign(message, seed))).toBe(toHex(nodeEd25519.sign(message, seed)));
    }
  });
});

describe("isStrongPublicKey", () => {
  // Canonical encodings of small-order points (orders 1, 2, 4 and 8) and non-canonical encodings (y >= p).
  const smallOrder = [
    "0100000000000000000000000000000000000000000000000000000000000000", // identity, order 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = -1, order 2
    "0000000000000000000000000000000000000000000000000000000000000000", // y = 0, order 4
    "0000000000000000000000000000000000000000000000000000000000000080", // y = 0, other sign, order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8, other sign
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8, other sign
  ];
  const nonCanonical = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (= 0)
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1 (= 1)
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = 2^255 - 1
  ];

  it.each(smallOrder)("refuses small-order key %s", (hex) => expect(isStrongPublicKey(fromHex(hex))).toBe(false));
  it.each(nonCanonical)("refuses non-canonical key %s", (hex) => expect(isStrongPublicKey(fromHex(hex))).toBe(false));
  it("accepts ordinary keys and refuses wrong lengths", () => {
    expect(isStrongPublicKey(fromHex(rfc[0]!.publicKey))).toBe(true);
    expect(isStrongPublicKey(new Uint8Array(31))).toBe(false);
  });
});
