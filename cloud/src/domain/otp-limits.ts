import { normalizeIP } from "@fastify/rate-limit";
import type { CloudSettings } from "../context.js";
import type { Tx } from "../store/store.js";
import { type DomainError, tooMany } from "./errors.js";

/**
 * Limits on one-time codes (docs/app-api.md "Limits"; issue 12, finding 4). A 6-digit code falls to about one guess in
 * 10^6, so what bounds an attacker is how many codes they can make a number get and how many guesses they can make:
 *
 * - per phone number: `otpPerWindow` codes per `otpWindowSeconds`, and `otpPerDay` codes per 24 h; reaching the daily
 *   limit locks the number out of new codes for `otpLockoutSeconds`, doubling with each further lockout (up to
 *   `otpLockoutMaxSeconds`) until the number is verified. Each code takes at most 5 guesses (domain/verification.ts).
 * - per client address (an IPv6 address counts by its /64): `otpCodesPerAddressPerHour` codes requested and
 *   `otpWrongCodesPerAddressPerHour` wrong codes given.
 *
 * A request for a code never voids a code already sent: an attacker asking for codes must not keep the real phone
 * from ever verifying. Every refusal is a 429 with Retry-After. Time is the cloud's clock (tests inject it).
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** The subject a client address is counted under. */
export function addressSubject(ip: string): string {
  return `addr:${normalizeIP(ip, 64)}`;
}

const numberSubject = (phoneNumber: string) => `phone:${phoneNumber}`;

/** How long the `strikes`-th lockout of a number lasts. */
export function lockoutMs(settings: CloudSettings, strikes: number): number {
  const ms = settings.otpLockoutSeconds * 1000 * 2 ** Math.min(strikes - 1, 30);
  return Math.min(ms, settings.otpLockoutMaxSeconds * 1000);
}

/**
 * Whether `phoneNumber` may be sent a code now, asked from `ip`: undefined if so (the request is then counted), else the
 * refusal. Reaching the daily limit records a lockout, so the caller commits the transaction even when refusing.
 */
export async function admitCodeRequest(
  tx: Tx,
  settings: CloudSettings,
  now: number,
  phoneNumber: string,
  ip: string,
): Promise<DomainError | undefined> {
  const number = numberSubject(phoneNumber);
  const lockout = await tx.otpThrottle.lockout(number);
  if (lockout && now < lockout.lockedUntil) {
    return tooMany(
      "this number asked for too many codes and is locked out for now; try again later",
      lockout.lockedUntil - now,
    );
  }
  const address = addressSubject(ip);
  const fromAddress = await tx.otpThrottle.window(address, "code", now - HOUR_MS);
  if (fromAddress.count >= settings.otpCodesPerAddressPerHour) {
    return tooMany("too many codes requested from this address; try again later", fromAddress.oldest! + HOUR_MS - now);
  }
  if ((await tx.verifications.countSince(phoneNumber, now - DAY_MS)) >= settings.otpPerDay) {
    const strikes = (lockout?.strikes ?? 0) + 1;
    const lockedUntil = now + lockoutMs(settings, strikes);
    await tx.otpThrottle.setLockout(number, { strikes, lockedUntil });
    return tooMany("too many codes requested for this number today; it is locked out for now", lockedUntil - now);
  }
  const windowMs = settings.otpWindowSeconds * 1000;
  if ((await tx.verifications.countSince(phoneNumber, now - windowMs)) >= settings.otpPerWindow) {
    return tooMany("too many codes requested for this number; try again later", windowMs);
  }
  await tx.otpThrottle.record(address, "code", now);
  return undefined;
}

/** Whether a code may be tried from `ip` now: undefined if so, else the refusal. */
export async function admitGuess(
  tx: Tx,
  settings: CloudSettings,
  now: number,
  ip: string,
): Promise<DomainError | undefined> {
  const wrong = await tx.otpThrottle.window(addressSubject(ip), "wrong", now - HOUR_MS);
  if (wrong.count >= settings.otpWrongCodesPerAddressPerHour) {
    return tooMany("too many wrong codes from this address; try again later", wrong.oldest! + HOUR_MS - now);
  }
  return undefined;
}

/** Counts a wrong code against the client address it came from. */
export function recordWrongCode(tx: Tx, now: number, ip: string): Promise<void> {
  return tx.otpThrottle.record(addressSubject(ip), "wrong", now);
}

/** A verified number starts afresh: its next lockout is the first again. */
export function clearLockout(tx: Tx, phoneNumber: string): Promise<void> {
  return tx.otpThrottle.clearLockout(numberSubject(phoneNumber));
}
