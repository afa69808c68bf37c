import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeSetupCode,
  encodeSetupCode,
  fingerprint,
  fingerprintMatches,
  isProtocolError,
  pinTag,
  SETUP_CODE_PREFIX,
} from "../src/index.js";
import { fromBase32, toBase32 } from "../src/trust/base32.js";
import { checkPinTag } from "../src/trust/pin.js";
import { agreementKey, authority, claimSecret, LOCK, lockIdentityKey, otherAuthority } from "./trust-helpers.js";

const keys = { identityKey: lockIdentityKey.publicKey, agreementKey };
const identity = { lockId: LOCK, claimSecret, fingerprint: fingerprint(keys) };

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return isProtocolError(e) ? e.code : `not a ProtocolError: ${String(e)}`;
  }
}

describe("base32 (RFC 4648)", () => {
  it("matches the RFC 4648 test vectors", () => {
    const vectors: [string, string][] = [
      ["", ""],
      ["f", "MY"],
      ["fo", "MZXQ"],
      ["foo", "MZXW6"],
      ["foob", "MZXW6YQ"],
      ["fooba", "MZXW6YTB"],
      ["foobar", "MZXW6YTBOI"],
    ];
    for (const [text, b32] of vectors) {
      expect(toBase32(new TextEncoder().encode(text))).toBe(b32);
      expect(new TextDecoder().decode(fromBase32(b32))).toBe(text);
    }
  });

  it("round-trips any bytes, and refuses non-zero trailing bits", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        expect(fromBase32(toBase32(bytes))).toEqual(bytes);
      }),
    );
    expect(fromBase32("MZ")).toBeUndefined();
    expect(fromBase32("my")).toBeUndefined();
  });

  it("encodes with another alphabet (the cloud's Crockford ids) bit for bit as with RFC 4648", () => {
    const rfc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const crockford = "0123456789abcdefghjkmnpqrstvwxyz";
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const translated = [...toBase32(bytes)].map((c) => crockford[rfc.indexOf(c)]).join("");
        expect(toBase32(bytes, crockford)).toBe(translated);
      }),
    );
    expect(toBase32(new Uint8Array(10).fill(0xff), crockford)).toBe("zzzzzzzzzzzzzzzz");
  });
});

describe("lock identity and setup code", () => {
  it("the fingerprint covers both public keys", () => {
    const fp = fingerprint(keys);
    expect(fp).toHaveLength(16);
    expect(fingerprintMatches(fp, keys)).toBe(true);
    expect(fingerprintMatches(fp, { ...keys, agreementKey: authority.publicKey })).toBe(false);
    expect(fingerprintMatches(fp, { ...keys, identityKey: authority.publicKey })).toBe(false);
    expect(fingerprintMatches(fp.subarray(0, 8), keys)).toBe(false);
    expect(fingerprintMatches(fp, { ...keys, agreementKey: new Uint8Array(31) })).toBe(false);
  });

  it("round-trips, prints as QR alphanumeric text, and forgives case, spaces and hyphens", () => {
    const code = encodeSetupCode(identity);
    expect(code.startsWith(SETUP_CODE_PREFIX)).toBe(true);
    expect(code).toMatch(/^[0-9A-Z $%*+\-./:]+$/);
    expect(decodeSetupCode(code)).toEqual(identity);
    const typed = code
      .toLowerCase()
      .replace(/(.{4})/g, "$1-")
      .replace(/-$/, "");
    expect(decodeSetupCode(` ${typed} `)).toEqual(identity);
  });

  it("round-trips every valid lock id and secret (property)", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (lockId, secret, fp) => {
          const id = { lockId, claimSecret: secret, fingerprint: fp };
          expect(decodeSetupCode(encodeSetupCode(id))).toEqual(id);
        },
      ),
    );
  });

  it("any one mistyped, dropped or swapped character is bad_checksum, never another lock", () => {
    const code = encodeSetupCode(identity);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for (let i = SETUP_CODE_PREFIX.length; i < code.length; i++) {
      for (const step of [1, 7, 31]) {
        const typo = code.slice(0, i) + alphabet[(alphabet.indexOf(code[i]!) + step) % 32] + code.slice(i + 1);
        expect(codeOf(() => decodeSetupCode(typo))).toBe("bad_checksum");
      }
      expect(codeOf(() => decodeSetupCode(code.slice(0, i) + code.slice(i + 1)))).toBe("bad_checksum");
      if (code[i] !== code[i + 1] && i + 1 < code.length) {
        const swapped = code.slice(0, i) + code[i + 1] + code[i] + code.slice(i + 2);
        expect(codeOf(() => decodeSetupCode(swapped))).toBe("bad_checksum");
      }
    }
    // A character no base32 has (0, 1, 8, 9) is named as such.
    expect(codeOf(() => decodeSetupCode(code.slice(0, 8) + "8" + code.slice(9)))).toBe("bad_setup_code");
  });

  it("refuses other versions, other prefixes, cut codes and overlong input with bad_setup_code", () => {
    const code = encodeSetupCode(identity);
    expect(codeOf(() => decodeSetupCode(code.replace("LK1:", "LK2:")))).toBe("bad_setup_code");
    expect(codeOf(() => decodeSetupCode(code.replace("LK1:", "")))).toBe("bad_setup_code");
    expect(codeOf(() => decodeSetupCode("LK1:"))).toBe("bad_setup_code");
    expect(codeOf(() => decodeSetupCode(code.slice(0, 12)))).toMatch(/^bad_(setup_code|checksum)$/);
    expect(codeOf(() => decodeSetupCode(`${code}${"A".repeat(400)}`))).toBe("bad_setup_code");
    expect(codeOf(() => decodeSetupCode(42 as unknown as string))).toBe("bad_setup_code");
  });

  it("encoding refuses an identity out of shape", () => {
    expect(() => encodeSetupCode({ ...identity, lockId: "bad/id" })).toThrow(TypeError);
    expect(() => encodeSetupCode({ ...identity, claimSecret: new Uint8Array(15) })).toThrow(TypeError);
    expect(() => encodeSetupCode({ ...identity, fingerprint: new Uint8Array(32) })).toThrow(TypeError);
  });
});

describe("pin tag", () => {
  const tag = pinTag(claimSecret, LOCK, authority.publicKey);

  it("is HMAC-SHA256 under the claim secret of [context, lock, authority]", () => {
    expect(tag).toHaveLength(32);
    expect(checkPinTag(claimSecret, LOCK, authority.publicKey, tag)).toBe(true);
  });

  it("does not move to another lock, another authority or another secret, and refuses any other shape", () => {
    expect(checkPinTag(claimSecret, "lock-2", authority.publicKey, tag)).toBe(false);
    expect(checkPinTag(claimSecret, LOCK, otherAuthority.publicKey, tag)).toBe(false);
    expect(checkPinTag(new Uint8Array(16), LOCK, authority.publicKey, tag)).toBe(false);
    expect(checkPinTag(claimSecret, LOCK, authority.publicKey, tag.subarray(0, 31))).toBe(false);
    expect(checkPinTag(claimSecret, LOCK, authority.publicKey, "tag")).toBe(false);
    expect(checkPinTag(new Uint8Array(3), LOCK, authority.publicKey, tag)).toBe(false);
    const flipped = new Uint8Array(tag);
    flipped[0]! ^= 1;
    expect(checkPinTag(claimSecret, LOCK, authority.publicKey, flipped)).toBe(false);
  });
});
