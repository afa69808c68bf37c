import { type CountryCode, isSupportedCountry, parsePhoneNumberFromString } from "libphonenumber-js/max";

/**
 * Phone numbers are key holders' ids: stored and compared in E.164 only, so "+47 912 34 567" and "91234567" (in
 * Norway) are one user. Returns undefined for anything that is not a valid number.
 */
export function toE164(phoneNumber: string, countryIso?: string | null): string | undefined {
  const country = countryIso && isSupportedCountry(countryIso) ? (countryIso as CountryCode) : undefined;
  const parsed = parsePhoneNumberFromString(phoneNumber, country ? { defaultCountry: country } : undefined);
  if (!parsed?.isValid()) return undefined;
  return parsed.number;
}
