import { createPrivateKey, createPublicKey } from "node:crypto";
import { Algorithms, Headers, ProtectedHeaders, Sign1, UnprotectedHeaders } from "@auth0/cose";
import { describe, expect, it } from "vitest";
import {
  Alg,
  CborTag,
  decodeSign1,
  encodeCbor,
  encodeClaims,
  fromHex,
  HeaderLabel,
  KEY_TOKEN_TYP,
  nobleEd25519,
  nodeEd25519,
  ProtocolError,
  signSign1,
  toHex,
  verifyKeyToken,
  verifySign1Signature,
} from "../src/index.js";
import { claims, device, fixture, issuer, kid, NOW, token, trust } from "./helpers.js";

interface CoseExample {
  input: { plaintext: string; sign0: { key: { x_hex: string; d_hex: string } } };
  intermediates: { ToBeSign_hex: string };
  output: { cbor: string };
}

const example = fixture<CoseExample>("cose-eddsa-sig-01.json");
const exampleBytes = fromHex(example.output.cbor.toLowerCase());
const x = fromHex(example.input.sign0.key.x_hex);
const d = fromHex(example.input.sign0.key.d_hex);

describe("COSE working group example eddsa-sig-01", () => {
  it.each([nodeEd25519, nobleEd25519])("verifies with the $name backend", (backend) => {
    const message = decodeSign1(exampleBytes);
    expect(new TextDecoder().decode(message.payload)).toBe(example.input.plaintext);
    expect(verifySign1Signature(message, x, undefined, backend)).toBe(true);
    expect(verifySign1Signature(message, x, new Uint8Array([1]), backend)).toBe(false);
  });

  it("is reproduced byte for byte by our signer from the same key and inputs", () => {
    const produced = signSign1({
      protectedHeader: new Map([
        [HeaderLabel.alg, Alg.EdDSA],
        [HeaderLabel.contentType, 0],
      ]),
      unprotectedHeader: new Map([[HeaderLabel.kid, new TextEncoder().encode("11")]]),
      payload: new TextEncoder().encode(example.input.plaintext),
      secretKey: d,
    });
    expect(toHex(produced)).toBe(toHex(exampleBytes));
  });

  it("refuses what is not a COSE_Sign1", () => {
    expect(() => decodeSign1(fromHex("d88340a0420102"))).toThrow(ProtocolError); // tag 131
    expect(() =>
      decodeSign1(encodeCbor([new Uint8Array(0), new Map(), new Uint8Array(0), new Uint8Array(64)])),
    ).toThrow(/tagged/);
    expect(() =>
      decodeSign1(encodeCbor(new CborTag(18, [new Uint8Array(0), new Map(), null, new Uint8Array(64)]))),
    ).toThrow(/detached/);
  });
});

// An independent COSE implementation (@auth0/cose, on jose and WebCrypto/OpenSSL) in both directions.
describe("verification's reused layout buffer (cose/sign1.ts verifySign1Signature)", () => {
  const sign = (payload: Uint8Array) =>
    decodeSign1(signSign1({ protectedHeader: new Map([[HeaderLabel.alg, Alg.EdDSA]]), payload, secretKey: d }));

  it.each([nodeEd25519, nobleEd25519])(
    "verifies a big, then a small message, and refuses a changed one ($name)",
    (backend) => {
      // Past the buffer's first 4 KiB, so it grows; then a shorter message must not see the longer one's tail.
      const big = sign(new Uint8Array(10_000).fill(7));
      const small = sign(new TextEncoder().encode("open sesame"));
      expect(verifySign1Signature(big, x, undefined, backend)).toBe(true);
      expect(verifySign1Signature(small, x, undefined, backend)).toBe(true);
      const changed = { ...small, payload: new TextEncoder().encode("open sesamE") };
      expect(verifySign1Signature(changed, x, undefined, backend)).toBe(false);
      expect(verifySign1Signature(big, x, undefined, backend)).toBe(true);
      expect(verifySign1Signature({ ...big, payload: big.payload.subarray(1) }, x, undefined, backend)).toBe(false);
    },
  );
});

describe("interop with @auth0/cose", () => {
  const jwk = (withSecret: boolean) => ({
    kty: "OKP",
    crv: "Ed25519",
    x: Buffer.from(issuer.publicKey).toString("base64url"),
    ...(withSecret ? { d: Buffer.from(issuer.secretKey).toString("base64url") } : {}),
  });
  const privateKey = createPrivateKey({ key: jwk(true), format: "jwk" });
  const publicKey = createPublicKey({ key: jwk(false), format: "jwk" });

  it("verifies tokens we sign", async () => {
    const ours = token();
    const decoded = Sign1.decode(ours);
    await expect(decoded.verify(publicKey)).resolves.toBeUndefined();
    const tampered = new Uint8Array(ours);
    tampered[tampered.length - 1]! ^= 1;
    await expect(Sign1.decode(tampered).verify(publicKey)).rejects.toThrow();
  });

  it("signs tokens we verify, and signs the same bytes as we do", async () => {
    const protectedHeaders = new ProtectedHeaders([
      [Headers.Algorithm, Algorithms.EdDSA],
      [Headers.KeyID, kid],
      [16 as Headers, KEY_TOKEN_TYP],
    ] as never);
    const theirs = (
      await Sign1.sign(protectedHeaders, new UnprotectedHeaders([]), encodeClaims(claims()), privateKey)
    ).encode();
    const verdict = verifyKeyToken(theirs, { trust, lockId: "lock-1", now: NOW });
    expect(verdict).toMatchObject({ ok: true, claims: { sub: "+4790000000", aud: "lock-1" } });
    expect(toHex(theirs)).toBe(toHex(token()));
  });

  it("their token for another lock or with another key is refused by us", async () => {
    const protectedHeaders = new ProtectedHeaders([
      [Headers.Algorithm, Algorithms.EdDSA],
      [Headers.KeyID, kid],
      [16 as Headers, KEY_TOKEN_TYP],
    ] as never);
    const other = createPrivateKey({
      key: {
        kty: "OKP",
        crv: "Ed25519",
        x: Buffer.from(device.publicKey).toString("base64url"),
        d: Buffer.from(device.secretKey).toString("base64url"),
      },
      format: "jwk",
    });
    const forged = (
      await Sign1.sign(protectedHeaders, new UnprotectedHeaders([]), encodeClaims(claims()), other)
    ).encode();
    expect(verifyKeyToken(forged, { trust, lockId: "lock-1", now: NOW })).toMatchObject({
      ok: false,
      code: "bad_signature",
    });
  });
});
