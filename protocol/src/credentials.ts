import { createHmac, scrypt, scryptSync, timingSafeEqual } from "node:crypto";
import { isValidLockId } from "./messages/fields.js";

/**
 * Per-lock broker credentials derived from one site secret held by the bridge: the MQTT username is the lock id,
 * the password HMAC-SHA256(siteSecret, "latchkey-lock-password-v1:" + lockId) as base64url. The bridge checks any
 * lock's password without a per-lock table, and a lock that knows its own password learns nothing of another's.
 */
const CONTEXT = "latchkey-lock-password-v1:";

export function deriveLockPassword(siteSecret: Uint8Array | string, lockId: string): string {
  if (!isValidLockId(lockId)) throw new TypeError(`lock id "${lockId}" is not valid`);
  const key = typeof siteSecret === "string" ? Buffer.from(siteSecret, "utf8") : siteSecret;
  if (key.length < 16) throw new TypeError("site secret must be at least 16 bytes");
  return createHmac("sha256", key)
    .update(CONTEXT + lockId)
    .digest("base64url");
}

/** What a lock logs in to the site's broker with (docs/mqtt.md): username = client id = lock id, derived password. */
export interface LockMqttLogin {
  clientId: string;
  username: string;
  password: string;
  /** MQTT 3.1.1: the version every lock speaks, and the one the embedded broker and the Mosquitto ACL are set up for. */
  protocolVersion: 4;
}

export function lockMqttLogin(siteSecret: Uint8Array | string, lockId: string): LockMqttLogin {
  return { clientId: lockId, username: lockId, password: deriveLockPassword(siteSecret, lockId), protocolVersion: 4 };
}

/** Constant-time check of a lock's password. */
export function checkLockPassword(
  siteSecret: Uint8Array | string,
  lockId: string,
  password: string | Uint8Array,
): boolean {
  if (!isValidLockId(lockId)) return false;
  const expected = Buffer.from(deriveLockPassword(siteSecret, lockId), "utf8");
  const given = Buffer.from(password);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Vendor-account credentials travel from the cloud to a bridge only as a salted scrypt digest: the cloud computes it
 * when the integrator creates or updates a vendor connection, the bridge computes the same over the account it is
 * configured with and compares. No vendor password is stored in the cloud or sent over the change feed.
 */
export interface CredentialCheck {
  /** base64url, 16 random bytes chosen by the cloud. */
  salt: string;
  /** base64url scrypt(vendor + "\0" + username + "\0" + password, salt), 32 bytes. */
  digest: string;
}

export const SCRYPT_PARAMS = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

function credentialInput(vendor: string, username: string, password: string): string {
  return `${vendor}\u0000${username}\u0000${password}`;
}

/**
 * The digest, computed on libuv's thread pool: scrypt takes tens of milliseconds by design, and a server that ran it
 * on its event loop (scryptSync) would answer nothing else meanwhile (review 12.11).
 */
export function vendorCredentialDigest(
  vendor: string,
  username: string,
  password: string,
  salt: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    scrypt(
      credentialInput(vendor, username, password),
      Buffer.from(salt, "base64url"),
      32,
      SCRYPT_PARAMS,
      (err, key) => (err ? reject(err) : resolve(key.toString("base64url"))),
    );
  });
}

/** The same digest, blocking the calling thread: for test fixtures and one-shot tools only, never a server path. */
export function vendorCredentialDigestSync(vendor: string, username: string, password: string, salt: string): string {
  return scryptSync(
    credentialInput(vendor, username, password),
    Buffer.from(salt, "base64url"),
    32,
    SCRYPT_PARAMS,
  ).toString("base64url");
}

export async function checkVendorCredentials(
  check: CredentialCheck,
  account: { vendor: string; username: string; password: string },
): Promise<boolean> {
  const expected = Buffer.from(check.digest, "base64url");
  const actual = Buffer.from(
    await vendorCredentialDigest(account.vendor, account.username, account.password, check.salt),
    "base64url",
  );
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
