import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { applyEnvOverrides } from "./env.js";
import { ConfigError } from "./errors.js";
import type { BridgeConfig } from "./schema.js";
import { parseBridgeConfig } from "./validate.js";

/**
 * Reads the YAML settings file, applies `LATCHKEY_BRIDGE_…` environment overrides and validates the result.
 * A relative `dataDir` is taken relative to the file. Throws ConfigError naming each bad key.
 */
export function loadBridgeConfig(path: string, env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(file, [{ key: "(file)", message: `cannot be read: ${(e as Error).message}` }]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true }) ?? {};
  } catch (e) {
    throw new ConfigError(file, [{ key: "(yaml)", message: (e as Error).message.split("\n")[0] ?? "not valid YAML" }]);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ConfigError(file, [{ key: "(root)", message: "must be a mapping of options" }]);
  const envIssues = applyEnvOverrides(raw as Record<string, unknown>, env);
  return parseBridgeConfig(raw, { baseDir: dirname(file), source: file, extraIssues: envIssues });
}
