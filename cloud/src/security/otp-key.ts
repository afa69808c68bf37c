import { createHmac } from "node:crypto";
import type { Store } from "../store/store.js";
import type { RandomSource } from "./ids.js";
import type { Sealer } from "./secrets.js";

const OTP_KEY_NAME = "otp-hmac-key";
const OTP_KEY_CONTEXT = "otp-hmac-key";

/**
 * The server secret one-time codes are MACed with (issue 12, finding 2). A code has only 10^6 values, so a plain hash
 * of it in the database is broken in a second by anyone holding a copy; an HMAC under a 32-byte key is not, as long
 * as the key is not in the copy in the clear. The key is made on the first start, sealed with the master key (like
 * issuer keys and webhook secrets) into `cloud_meta`, and shared by every process on the database.
 */
export async function loadOtpKey(store: Store, sealer: Sealer, random: RandomSource): Promise<Uint8Array> {
  const fresh = sealer.seal(random(32), OTP_KEY_CONTEXT);
  const sealed = await store.transaction(async (tx) => {
    await tx.meta.insertIfAbsent(OTP_KEY_NAME, fresh);
    return tx.meta.get(OTP_KEY_NAME);
  });
  if (sealed === undefined) throw new Error("the one-time-code key was not stored");
  return sealer.open(sealed, OTP_KEY_CONTEXT);
}

/** What is stored for a code: HMAC-SHA256 under the OTP key of `verificationId:code`, base64url. */
export function otpCodeMac(otpKey: Uint8Array, verificationId: string, code: string): string {
  return createHmac("sha256", otpKey).update(`${verificationId}:${code}`, "utf8").digest("base64url");
}
