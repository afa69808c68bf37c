import { isAbsolute, resolve } from "node:path";
import { isValidLockId } from "@latchkey/protocol";
import { schemaIssues } from "@latchkey/runtime";
import { Value } from "@sinclair/typebox/value";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { takeRemovedOptions } from "./removed.js";
import { type BridgeConfig, BridgeConfigSchema } from "./schema.js";

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
  const issues = [...(options.extraIssues ?? []), ...removed, ...schemaIssues(BridgeConfigSchema, withDefaults)];
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
