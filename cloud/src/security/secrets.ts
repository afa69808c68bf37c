import { createCipheriv, createDecipheriv, createHash, timingSafeEqual } from "node:crypto";
import type { RandomSource } from "./ids.js";

/**
 * Client, bridge and access-token secrets are 32 random bytes, so a plain SHA-256 is a sufficient one-way hash
 * (a slow password hash buys nothing against 256 bits of entropy and would make every request pay for it).
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("base64url");
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), "utf8");
  const b = Buffer.from(storedHash, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

export function newSecret(random: RandomSource, prefix: string): string {
  return prefix + Buffer.from(random(32)).toString("base64url");
}

/**
 * Secrets the cloud must use again (issuer private keys, webhook signing secrets) are sealed with AES-256-GCM under
 * the master key. The record id is bound as associated data, so a sealed value copied onto another row won't open.
 */
export class Sealer {
  constructor(
    private readonly masterKey: Uint8Array,
    private readonly random: RandomSource,
  ) {
    if (masterKey.length !== 32) throw new TypeError("the master key must be 32 bytes");
  }

  seal(plain: Uint8Array, context: string): string {
    const iv = this.random(12);
    const cipher = createCipheriv("aes-256-gcm", this.masterKey, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return `v1.${Buffer.from(iv).toString("base64url")}.${body.toString("base64url")}.${cipher.getAuthTag().toString("base64url")}`;
  }

  open(sealed: string, context: string): Uint8Array {
    const [version, iv, body, tag] = sealed.split(".");
    if (version !== "v1" || !iv || body === undefined || !tag) throw new Error("sealed value has an unknown format");
    const decipher = createDecipheriv("aes-256-gcm", this.masterKey, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]));
  }
}
