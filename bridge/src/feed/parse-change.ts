import { FEED_CHANGES, matches } from "@latchkey/protocol/contracts";
import type { Change } from "../cloud/types.js";

/**
 * Checks one change-feed entry against its contract (docs/bridge-api.md). Answers the typed change, `unknown` for a
 * kind this bridge does not know (a newer cloud; skipped), or an error message for a malformed entry.
 */
export function parseChange(raw: unknown): { change: Change } | { unknown: string } | { error: string } {
  if (typeof raw !== "object" || raw === null) return { error: "not an object" };
  const { seq, kind } = raw as { seq?: unknown; kind?: unknown };
  if (typeof seq !== "number" || !Number.isSafeInteger(seq)) return { error: "seq is not an integer" };
  if (typeof kind !== "string" || !Object.hasOwn(FEED_CHANGES, kind)) return { unknown: String(kind) };
  const schema = FEED_CHANGES[kind as keyof typeof FEED_CHANGES];
  if (!matches(schema, raw)) return { error: `${kind} change ${seq} is malformed` };
  return { change: raw };
}
