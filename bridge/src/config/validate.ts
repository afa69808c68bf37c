import { isAbsolute, resolve } from "node:path";
import { isValidLockId } from "@latchkey/protocol";
import { Kind, type TSchema } from "@sinclair/typebox";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { takeRemovedOptions } from "./removed.js";
import { type BridgeConfig, BridgeConfigSchema, isSecretSchema } from "./schema.js";
import { isObjectSchema, pointerToKey, schemaAt } from "./walk.js";

const show = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

function closest(word: string, candidates: string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = row[j]!;
        row[j] = Math.min(
          row[j]! + 1,
          row[j - 1]! + 1,
          prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
        );
        prev = tmp;
      }
    }
    return row[b.length]!;
  };
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d <= Math.max(2, Math.floor(c.length / 3)) && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

function describe(error: ValueError): string {
  const s = error.schema as TSchema & Record<string, unknown>;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return "is required";
    case ValueErrorType.ObjectAdditionalProperties: {
      const parent = schemaAt(BridgeConfigSchema, error.path.split("/").slice(0, -1).join("/"));
      const name = error.path.split("/").pop() ?? "";
      const hint = parent && isObjectSchema(parent) ? closest(name, Object.keys(parent.properties)) : undefined;
      return `is not a known option${hint ? ` (did you mean "${hint}"?)` : ""}`;
    }
    case ValueErrorType.Union: {
      const members = (s.anyOf as TSchema[]) ?? [];
      if (members.every((m) => m[Kind] === "Literal"))
        return `must be one of ${members.map((m) => String((m as TSchema & { const: unknown }).const)).join(", ")}`;
      if (members.some((m) => m[Kind] === "Null")) return "must be an integer or null";
      return "has an invalid value";
    }
    case ValueErrorType.Integer:
      return "must be an integer";
    case ValueErrorType.IntegerMinimum:
      return `must be at least ${s.minimum}`;
    case ValueErrorType.IntegerMaximum:
      return `must be at most ${s.maximum}`;
    case ValueErrorType.String:
      return "must be text";
    case ValueErrorType.StringMinLength:
      return `must be at least ${s.minLength} characters`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${s.maxLength} characters`;
    case ValueErrorType.StringPattern:
      return `has an invalid format (${String(s.description ?? s.pattern)})`;
    case ValueErrorType.Boolean:
      return "must be true or false";
    case ValueErrorType.Array:
      return "must be a list";
    case ValueErrorType.Object:
      return "must be a mapping of options";
    default:
      return error.message;
  }
}

function schemaIssues(value: unknown): ConfigIssue[] {
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const error of Value.Errors(BridgeConfigSchema, value)) {
    if (seen.has(error.path)) continue;
    seen.add(error.path);
    const secret = isSecretSchema(schemaAt(BridgeConfigSchema, error.path));
    const shown =
      error.value === undefined || secret || error.type === ValueErrorType.ObjectAdditionalProperties
        ? ""
        : ` (got ${show(error.value)})`;
    issues.push({ key: pointerToKey(error.path), message: describe(error) + shown });
  }
  return issues;
}

const PLACEHOLDER = /REPLACE/;

/** Whether a listen address is reachable only from this host (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1";
}

function semanticIssues(config: BridgeConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (PLACEHOLDER.test(config.cloud.bridgeId))
    issues.push({
      key: "cloud.bridgeId",
      message:
        "is still the placeholder: set the bridgeId answered by POST /integrators/v1/lock-holders/{lhId}/bridges",
    });
  if (PLACEHOLDER.test(config.cloud.secret))
    issues.push({
      key: "cloud.secret",
      message: "is still the placeholder: set the secret answered with the bridgeId",
    });
  if (config.cloud.backoffMaxMs < config.cloud.backoffInitialMs)
    issues.push({ key: "cloud.backoffMaxMs", message: "must not be below cloud.backoffInitialMs" });
  if (config.mqtt.broker === "external" && !config.mqtt.url)
    issues.push({ key: "mqtt.url", message: "is required when mqtt.broker is external" });
  if (config.mqtt.broker === "embedded" && config.mqtt.wsPort !== null && config.mqtt.wsPort !== 0) {
    if (config.mqtt.wsPort === config.mqtt.port)
      issues.push({ key: "mqtt.wsPort", message: "must differ from mqtt.port" });
  }
  if (config.homeassistant.discoveryPrefix === config.topicPrefix.split("/")[0])
    issues.push({
      key: "homeassistant.discoveryPrefix",
      message: "must differ from the first level of topicPrefix (Home Assistant would read every lock topic)",
    });
  config.mqtt.accounts.forEach((account, i) => {
    if (isValidLockId(account.username))
      issues.push({
        key: `mqtt.accounts[${i}].username`,
        message: "must not look like a lock id (locks log in with their id); use e.g. homeassistant@site",
      });
  });
  if (
    config.metrics.enabled &&
    config.status.enabled &&
    !config.status.password &&
    !isLoopbackHost(config.metrics.host)
  )
    issues.push({
      key: "status.password",
      message:
        `is required when metrics.host (${config.metrics.host}) is not a loopback address: the status page would be ` +
        "open to the network without a login (or set status.enabled: false)",
    });
  const seen = new Set<string>();
  config.vendorAccounts.forEach((account, i) => {
    const k = `${account.vendor}\u0000${account.username}`;
    if (seen.has(k))
      issues.push({
        key: `vendorAccounts[${i}]`,
        message: `duplicates vendor ${account.vendor} user ${account.username}`,
      });
    seen.add(k);
  });
  return issues;
}

export interface ParseOptions {
  /** Directory that a relative `dataDir` is resolved against (default: the working directory). */
  baseDir?: string;
  /** Names the origin in error messages. */
  source?: string;
  /** Issues found before validation (environment overrides), reported together with the schema's. */
  extraIssues?: ConfigIssue[];
}

/** Applies defaults and validates settings; throws ConfigError listing every problem with its key. */
export function parseBridgeConfig(raw: unknown, options: ParseOptions = {}): BridgeConfig {
  const source = options.source ?? "settings object";
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ConfigError(source, [{ key: "(root)", message: "must be a mapping of options" }]);
  const copy = Value.Clone(raw) as Record<string, unknown>;
  const removed = takeRemovedOptions(copy);
  const withDefaults = Value.Default(BridgeConfigSchema, copy);
  const issues = [...(options.extraIssues ?? []), ...removed, ...schemaIssues(withDefaults)];
  if (issues.length > 0) throw new ConfigError(source, issues);
  const config = withDefaults as BridgeConfig;
  config.mqtt.broker = config.mqtt.broker ?? (config.mqtt.url ? "external" : "embedded");
  const more = semanticIssues(config);
  if (more.length > 0) throw new ConfigError(source, more);
  config.dataDir = isAbsolute(config.dataDir)
    ? config.dataDir
    : resolve(options.baseDir ?? process.cwd(), config.dataDir);
  return config;
}

type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly DeepPartial<U>[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** Settings as written by hand (defaults not yet applied): what `startBridge` and `parseBridgeConfig` take. */
export type BridgeConfigInit = DeepPartial<BridgeConfig> & {
  cloud: { url: string; bridgeId: string; secret: string } & DeepPartial<BridgeConfig["cloud"]>;
  mqtt: { siteSecret: string } & DeepPartial<BridgeConfig["mqtt"]>;
};
