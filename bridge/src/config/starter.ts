import { randomBytes } from "node:crypto";
import { isObjectSchema } from "@latchkey/runtime";
import { Kind, OptionalKind, type TSchema } from "@sinclair/typebox";
import { stringify } from "yaml";
import { BridgeConfigSchema, isSecretSchema } from "./schema.js";

export interface StarterOptions {
  cloudUrl?: string;
  bridgeId?: string;
  bridgeSecret?: string;
  /** Defaults to 32 fresh random bytes, base64url. */
  siteSecret?: string;
}

/** A fresh site secret: 32 random bytes as base64url. */
export const newSiteSecret = (): string => randomBytes(32).toString("base64url");

function wrap(text: string, width = 110): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function block(key: string, value: unknown, pad: string, commented: boolean): string[] {
  const text = stringify({ [key]: value }, { lineWidth: 0 })
    .trimEnd()
    .split("\n");
  return text.map((l) => `${pad}${commented ? "# " : ""}${l}`);
}

/**
 * The commented starter file of `latchkey-bridge init`, generated from the settings schema so that it always lists
 * every option with its description and default.
 */
export function starterConfig(options: StarterOptions = {}): string {
  const given: Record<string, unknown> = {
    "cloud.url": options.cloudUrl ?? "http://127.0.0.1:8080",
    "cloud.bridgeId": options.bridgeId ?? "REPLACE_WITH_BRIDGE_ID",
    "cloud.secret": options.bridgeSecret ?? "REPLACE_WITH_BRIDGE_SECRET",
    "mqtt.siteSecret": options.siteSecret ?? newSiteSecret(),
  };
  const out: string[] = [
    "# latchkey bridge settings. Every option can be overridden by an environment variable named after its path,",
    "# e.g. mqtt.port -> LATCHKEY_BRIDGE_MQTT_PORT (lists as JSON). Keep this file private: it holds secrets.",
    "",
  ];
  const visit = (schema: TSchema, path: string[], pad: string) => {
    for (const [key, child] of Object.entries(
      (schema as TSchema & { properties: Record<string, TSchema> }).properties,
    )) {
      const full = [...path, key].join(".");
      const description = child.description as string | undefined;
      if (description) out.push(...wrap(description).map((l) => `${pad}# ${l}`));
      if (isObjectSchema(child)) {
        out.push(`${pad}${key}:`);
        visit(child, [...path, key], `${pad}  `);
        if (path.length === 0) out.push("");
        continue;
      }
      const examples = child.examples as unknown[] | undefined;
      if (full in given) out.push(...block(key, given[full], pad, false));
      else if ("default" in child) {
        out.push(...block(key, child.default, pad, false));
        if (Array.isArray(child.default) && child.default.length === 0 && examples?.[0] !== undefined) {
          out.push(`${pad}# for example:`);
          out.push(...block(key, examples[0], pad, true));
        }
      } else if (examples?.[0] !== undefined) out.push(...block(key, examples[0], pad, true));
      else if (child[OptionalKind] === "Optional")
        out.push(...block(key, isSecretSchema(child) ? "secret" : child[Kind] === "Array" ? [] : "", pad, true));
      if (path.length === 0) out.push("");
    }
  };
  visit(BridgeConfigSchema, [], "");
  return `${out.join("\n").trimEnd()}\n`;
}
