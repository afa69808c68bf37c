import type { ConfigIssue } from "./errors.js";

/**
 * Options that existed before the switch-over (issue 13, docs/design.md section 7 "Removed") and are refused by name,
 * with why, instead of the generic "is not a known option": a site upgrading with an old file learns what changed and
 * that nothing replaces them. Locks take their time and their trust only from documents the cloud signs, which the
 * bridge carries unaltered (docs/trust.md).
 */
const TIME =
  "was removed: locks take their time only from the cloud's signed time answers, which the bridge relays " +
  "(docs/trust.md, Time); delete it";
const SYNC =
  "was removed: locks take their trust only from the cloud's signed state, which the bridge relays unaltered; " +
  "there are no sync messages, versions or grants any more (docs/trust.md); delete it";

/** Removed option paths and why. A section's own entry covers a value that is not a mapping. */
export const REMOVED_OPTIONS: ReadonlyMap<string, string> = new Map([
  ["time", TIME],
  ["time.source", TIME],
  ["sync", SYNC],
  ["sync.resendSeconds", SYNC],
  ["sync.sendGrants", SYNC],
]);

const SECTIONS = ["time", "sync"] as const;

/**
 * Takes the removed options out of raw settings (mutates `raw`) and answers an issue per option found, named by its
 * path (`sync.resendSeconds`), or by the section when it holds nothing else known.
 */
export function takeRemovedOptions(raw: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const section of SECTIONS) {
    if (!(section in raw)) continue;
    const value = raw[section];
    delete raw[section];
    const keys =
      typeof value === "object" && value !== null && !Array.isArray(value)
        ? Object.keys(value).map((k) => `${section}.${k}`)
        : [];
    const named = keys.filter((k) => REMOVED_OPTIONS.has(k));
    for (const key of named.length > 0 ? keys : [section])
      issues.push({ key, message: REMOVED_OPTIONS.get(key) ?? REMOVED_OPTIONS.get(section)! });
  }
  return issues;
}
