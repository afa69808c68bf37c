import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fromHex, type KeyClaims, keyPairFromSeed, signKeyToken, TrustStore } from "../src/index.js";

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as T;
}

/** Deterministic key material for tests: a seed is the SHA-256 of a label. */
export function seed(label: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(label).digest());
}

export const issuer = keyPairFromSeed(seed("issuer"));
export const device = keyPairFromSeed(seed("device"));
export const kid = fromHex("0102030405060708");
export const trust = new TrustStore([{ kid, publicKey: issuer.publicKey }]);
export const NOW = 1_800_000_000;

export function claims(overrides: Partial<KeyClaims> = {}): KeyClaims {
  return {
    iss: "latchkey",
    sub: "+4790000000",
    aud: "lock-1",
    exp: NOW + 3600,
    nbf: NOW - 60,
    iat: NOW - 60,
    cti: fromHex("00112233445566778899aabbccddeeff"),
    cnf: device.publicKey,
    ...overrides,
  };
}

export function token(overrides: Partial<KeyClaims> = {}): Uint8Array {
  return signKeyToken(claims(overrides), { kid, secretKey: issuer.secretKey });
}
