import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeStrict,
  deriveReportKey,
  fromHex,
  hkdfSha256,
  isProtocolError,
  REPORT_KEY_LABEL,
  toHex,
  x25519KeyPairFromSeed,
  x25519PublicKey,
} from "../src/index.js";
import { x25519SharedSecret } from "../src/reports/key.js";
import { seed } from "./helpers.js";

// The primitives are the standard ones: the RFCs' own vectors, through the very functions reports use.
describe("RFC 7748 X25519", () => {
  // Section 6.1: Alice and Bob's key pairs and their shared secret.
  const alicePrivate = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const alicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
  const bobPrivate = fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const bobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
  const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

  it("section 6.1: public keys and the shared secret from both sides", () => {
    expect(toHex(x25519PublicKey(alicePrivate))).toBe(alicePublic);
    expect(toHex(x25519PublicKey(bobPrivate))).toBe(bobPublic);
    expect(toHex(x25519SharedSecret(alicePrivate, fromHex(bobPublic)))).toBe(shared);
    expect(toHex(x25519SharedSecret(bobPrivate, fromHex(alicePublic)))).toBe(shared);
  });

  it("section 5.2: the first scalar multiplication vector", () => {
    const scalar = fromHex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    const u = fromHex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    expect(toHex(x25519SharedSecret(scalar, u))).toBe(
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    );
  });
});

describe("RFC 5869 HKDF-SHA256", () => {
  it("test case 1", () => {
    const okm = hkdfSha256(
      fromHex("0b".repeat(22)),
      fromHex("000102030405060708090a0b0c"),
      fromHex("f0f1f2f3f4f5f6f7f8f9"),
      42,
    );
    expect(toHex(okm)).toBe("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  });

  it("test case 3: empty salt and info, the empty salt reports use", () => {
    const okm = hkdfSha256(fromHex("0b".repeat(22)), new Uint8Array(0), new Uint8Array(0), 42);
    expect(toHex(okm)).toBe("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  });
});

describe("deriveReportKey", () => {
  const lock = x25519KeyPairFromSeed(seed("lock x25519"));
  const cloud = x25519KeyPairFromSeed(seed("cloud report key"));
  const kid = fromHex("a1a2a3a4");
  const lockSide = (over: { lockId?: string; cloudKeyId?: Uint8Array } = {}) =>
    deriveReportKey({
      lockPrivate: lock.privateKey,
      peerPublic: cloud.publicKey,
      lockId: over.lockId ?? "lock-1",
      cloudKeyId: over.cloudKeyId ?? kid,
    });

  it("gives the lock and the cloud the same 32-byte key", () => {
    const a = lockSide();
    const b = deriveReportKey({
      cloudPrivate: cloud.privateKey,
      peerPublic: lock.publicKey,
      lockId: "lock-1",
      cloudKeyId: kid,
    });
    expect(a).toHaveLength(32);
    expect(toHex(a)).toBe(toHex(b));
  });

  it("is HKDF-SHA256 with an empty salt over X25519, info binding lock id, key id and both public keys", () => {
    const secret = x25519SharedSecret(lock.privateKey, cloud.publicKey);
    // Written out byte by byte, so the layout documented in docs/reports.md is checked, not re-derived.
    const info = new Uint8Array(
      Buffer.concat([
        Buffer.from([0x85]),
        Buffer.from([0x76]),
        Buffer.from(REPORT_KEY_LABEL),
        Buffer.from([0x66]),
        Buffer.from("lock-1"),
        Buffer.from([0x44]),
        kid,
        Buffer.from([0x58, 0x20]),
        lock.publicKey,
        Buffer.from([0x58, 0x20]),
        cloud.publicKey,
      ]),
    );
    expect(decodeStrict(info)).toEqual(["latchkey-report-key-v1", "lock-1", kid, lock.publicKey, cloud.publicKey]);
    expect(toHex(lockSide())).toBe(toHex(hkdfSha256(secret, new Uint8Array(0), info, 32)));
  });

  it("differs for another lock id, another key id, another lock key", () => {
    const base = toHex(lockSide());
    expect(toHex(lockSide({ lockId: "lock-2" }))).not.toBe(base);
    expect(toHex(lockSide({ cloudKeyId: fromHex("a1a2a3a5") }))).not.toBe(base);
    const other = x25519KeyPairFromSeed(seed("another lock"));
    expect(
      toHex(
        deriveReportKey({
          lockPrivate: other.privateKey,
          peerPublic: cloud.publicKey,
          lockId: "lock-1",
          cloudKeyId: kid,
        }),
      ),
    ).not.toBe(base);
  });

  // Points of order 1, 2, 4 and 8 on Curve25519, and the non-canonical encodings p - 1, p, p + 1 (X25519 masks the top
  // bit, RFC 7748 section 5): X25519 with any of them is all zeros whatever the private key, so a courier swapping one
  // in for the cloud's key would fix a report key it knows.
  const lowOrder = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  ];
  it.each(lowOrder)("refuses the low-order point %s with weak_key, from either side", (point) => {
    for (const derive of [
      () =>
        deriveReportKey({
          lockPrivate: lock.privateKey,
          peerPublic: fromHex(point),
          lockId: "lock-1",
          cloudKeyId: kid,
        }),
      () =>
        deriveReportKey({
          cloudPrivate: cloud.privateKey,
          peerPublic: fromHex(point),
          lockId: "lock-1",
          cloudKeyId: kid,
        }),
    ]) {
      let error: unknown;
      try {
        derive();
      } catch (e) {
        error = e;
      }
      expect(isProtocolError(error) && error.code).toBe("weak_key");
    }
  });

  it("refuses keys of the wrong length, and a bad lock id or key id", () => {
    const short = () =>
      deriveReportKey({
        lockPrivate: lock.privateKey,
        peerPublic: new Uint8Array(31),
        lockId: "lock-1",
        cloudKeyId: kid,
      });
    expect(short).toThrow(expect.objectContaining({ code: "weak_key" }));
    expect(() => lockSide({ lockId: "locks/#" })).toThrow(expect.objectContaining({ code: "invalid_message" }));
    expect(() => lockSide({ cloudKeyId: new Uint8Array(0) })).toThrow(
      expect.objectContaining({ code: "invalid_message" }),
    );
    expect(() => lockSide({ cloudKeyId: new Uint8Array(33) })).toThrow(
      expect.objectContaining({ code: "invalid_message" }),
    );
  });

  it("property: any two key pairs agree from both sides", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        (a, b, keyId) => {
          const l = x25519KeyPairFromSeed(a);
          const c = x25519KeyPairFromSeed(b);
          const one = deriveReportKey({
            lockPrivate: l.privateKey,
            peerPublic: c.publicKey,
            lockId: "L1",
            cloudKeyId: keyId,
          });
          const two = deriveReportKey({
            cloudPrivate: c.privateKey,
            peerPublic: l.publicKey,
            lockId: "L1",
            cloudKeyId: keyId,
          });
          expect(toHex(one)).toBe(toHex(two));
        },
      ),
      { numRuns: 50 },
    );
  });
});
