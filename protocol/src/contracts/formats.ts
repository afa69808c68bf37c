import { FormatRegistry } from "@sinclair/typebox";
import { parseRfc3339 } from "./rfc3339.js";

/**
 * Teaches TypeBox the string formats the contracts use (it knows none by itself): `date-time` as RFC 3339 with an
 * offset, `uri` as an http(s) URL. TypeBox keeps formats in one registry per process, so this is done once, by
 * whoever checks values first (the cloud's validator, `parse`); a format set before is left as it is.
 */
export function registerFormats(): void {
  if (!FormatRegistry.Has("date-time")) {
    FormatRegistry.Set("date-time", (v) => parseRfc3339(v) !== undefined);
  }
  if (!FormatRegistry.Has("uri")) {
    FormatRegistry.Set("uri", (v) => {
      try {
        const url = new URL(v);
        return url.protocol === "http:" || url.protocol === "https:";
      } catch {
        return false;
      }
    });
  }
}
