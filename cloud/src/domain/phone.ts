import {
  type CountryCode,
  isSupportedCountry,
  type NumberType,
  parsePhoneNumberFromString,
} from "libphonenumber-js/max";

/**
 * Phone numbers are key holders' ids: stored and compared in E.164 only, so "+47 912 34 567" and "91234567" (in
 * Norway) are one user. Returns undefined for anything that is not a valid number.
 */
export function toE164(phoneNumber: string, countryIso?: string | null): string | undefined {
  return parse(phoneNumber, countryIso)?.number;
}

function parse(phoneNumber: string, countryIso?: string | null) {
  const country = countryIso && isSupportedCountry(countryIso) ? (countryIso as CountryCode) : undefined;
  const parsed = parsePhoneNumberFromString(phoneNumber, country ? { defaultCountry: country } : undefined);
  return parsed?.isValid() ? parsed : undefined;
}

/**
 * A country code a lock holder may carry: ISO 3166-1 alpha-2 and known to libphonenumber, whose metadata reads the
 * national numbers of the lock holder's key holders (a code it does not know would silently read none).
 */
export const isKnownCountry = (countryIso: string): boolean => isSupportedCountry(countryIso);

/**
 * Types a key holder's number may have: a mobile, or a number the numbering plan does not tell apart from one (North
 * America, among others). A key holder proves the number with a one-time code by SMS and opens doors with the phone.
 */
const MOBILE_TYPES = new Set<NumberType>(["MOBILE", "FIXED_LINE_OR_MOBILE"]);

const TYPE_WORDS: Record<NonNullable<NumberType>, string> = {
  FIXED_LINE: "a landline",
  MOBILE: "a mobile number",
  FIXED_LINE_OR_MOBILE: "a landline or mobile number",
  TOLL_FREE: "a toll-free number",
  PREMIUM_RATE: "a premium-rate number",
  SHARED_COST: "a shared-cost number",
  VOIP: "a VoIP number",
  PERSONAL_NUMBER: "a personal (forwarding) number",
  PAGER: "a pager number",
  UAN: "a company (UAN) number",
  VOICEMAIL: "a voicemail access number",
};

export type MobileCheck = { e164: string } | { problem: string };

/**
 * A key holder's number in E.164, or why it cannot be one: not a valid number at all, or valid but not a mobile
 * (libphonenumber's type: FIXED_LINE and the other non-mobile types are refused, FIXED_LINE_OR_MOBILE is taken).
 */
export function keyHolderMobile(phoneNumber: string, countryIso?: string | null): MobileCheck {
  const parsed = parse(phoneNumber, countryIso);
  if (!parsed) return { problem: "is not a valid mobile phone number; use E.164 such as +4791234567" };
  const type = parsed.getType();
  if (type !== undefined && MOBILE_TYPES.has(type)) return { e164: parsed.number };
  const words = type === undefined ? "a number of unknown type" : `${TYPE_WORDS[type]} (${type})`;
  return {
    problem: `is ${words}, not a mobile number: a key holder needs a mobile number, which receives the one-time code by SMS`,
  };
}
