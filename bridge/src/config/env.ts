import { type SchemaLeaf, schemaLeaves } from "@latchkey/runtime";
import { Kind, type TSchema } from "@sinclair/typebox";
import type { ConfigIssue } from "./errors.js";
import { REMOVED_OPTIONS } from "./removed.js";
import { BridgeConfigSchema } from "./schema.js";

/**
 * Environment overrides: every option of the schema has a variable named after its path, `LATCHKEY_BRIDGE_` then the
 * path in upper snake case (`mqtt.wsPort` → `LATCHKEY_BRIDGE_MQTT_WS_PORT`). Arrays take JSON. A variable with the
 * prefix that names no option is an error, so a typo does not silently leave a setting at its default.
 */
export const ENV_PREFIX = "LATCHKEY_BRIDGE_";
/** Not an option: the path of the config file (used by the CLI when --config is absent). */
export const CONFIG_PATH_ENV = `${ENV_PREFIX}CONFIG`;

const snake = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

export const envName = (path: string[]): string => ENV_PREFIX + path.map(snake).join("_");

export const ENV_OPTIONS: ReadonlyMap<string, SchemaLeaf> = new Map(
  schemaLeaves(BridgeConfigSchema).map((leaf) => [envName(leaf.path), leaf]),
);

/** Variables of removed options (config/removed.ts), refused with why rather than as unknown. */
const REMOVED_ENV: ReadonlyMap<string, string> = new Map(
  [...REMOVED_OPTIONS].filter(([path]) => path.includes(".")).map(([path, why]) => [envName(path.split(".")), why]),
);

function parseValue(text: string, schema: TSchema): { ok: true; value: unknown } | { ok: false; message: string } {
  const kind = schema[Kind];
  if (kind === "Integer") {
    return /^-?\d+$/.test(text.trim())
      ? { ok: true, value: Number(text.trim()) }
      : { ok: false, message: "must be an integer" };
  }
  if (kind === "Boolean") {
    const t = text.trim().toLowerCase();
    if (t === "true" || t === "1" || t === "yes") return { ok: true, value: true };
    if (t === "false" || t === "0" || t === "no") return { ok: true, value: false };
    return { ok: false, message: "must be true or false" };
  }
  if (kind === "Array") {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch {
      return { ok: false, message: "must be a JSON array" };
    }
  }
  if (kind === "Union") {
    const members = (schema as TSchema & { anyOf: TSchema[] }).anyOf;
    if (members.some((m) => m[Kind] === "Null") && (text.trim() === "" || text.trim() === "null")) {
      return { ok: true, value: null };
    }
    const integer = members.find((m) => m[Kind] === "Integer");
    if (integer) return parseValue(text, integer);
  }
  return { ok: true, value: text };
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Applies `LATCHKEY_BRIDGE_…` variables onto the raw settings (mutates `raw`); returns the problems found. */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_PATH_ENV || text === undefined) continue;
    const leaf = ENV_OPTIONS.get(name);
    const removed = REMOVED_ENV.get(name);
    if (removed) {
      issues.push({ key: name, message: removed });
      continue;
    }
    if (!leaf) {
      issues.push({ key: name, message: "is not a bridge option (see latchkey-bridge --help for the list)" });
      continue;
    }
    const parsed = parseValue(text, leaf.schema);
    if (!parsed.ok) issues.push({ key: name, message: parsed.message });
    else setPath(raw, leaf.path, parsed.value);
  }
  return issues;
}
