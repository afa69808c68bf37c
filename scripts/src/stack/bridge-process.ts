import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { ManagedChild } from "./child.js";

export interface BridgeFileOptions {
  cloudUrl: string;
  bridgeId: string;
  bridgeSecret: string;
  siteSecret: string;
  /** Relative to the config file's directory, or absolute. */
  dataDir: string;
  vendor: { username: string; password: string };
  /** Embedded broker port (0 = any free port)… */
  mqttPort: number;
  /** …its listen address (default 127.0.0.1)… */
  mqttHost?: string;
  /** …and Home Assistant's login on it. */
  homeAssistant?: { username: string; password: string };
  /** …or an external broker. */
  mqttUrl?: string;
  /** External broker login of the bridge. */
  mqttUsername?: string;
  mqttPassword?: string;
  metricsPort: number;
  topicPrefix?: string;
  discoveryPrefix?: string;
  /** Long-poll wait; shorter in tests so a stopped cloud is noticed sooner. */
  pollWaitSeconds?: number;
  backoffMaxMs?: number;
  logLevel?: string;
}

/** The bridge's settings as its YAML file (bridge/src/config/schema.ts), for `latchkey-bridge --config`. */
export function bridgeConfig(o: BridgeFileOptions): Record<string, unknown> {
  const mqtt: Record<string, unknown> = { siteSecret: o.siteSecret };
  if (o.mqttUrl !== undefined) {
    mqtt.broker = "external";
    mqtt.url = o.mqttUrl;
    if (o.mqttUsername !== undefined) mqtt.username = o.mqttUsername;
    if (o.mqttPassword !== undefined) mqtt.password = o.mqttPassword;
  } else {
    mqtt.broker = "embedded";
    mqtt.host = o.mqttHost ?? "127.0.0.1";
    mqtt.port = o.mqttPort;
    if (o.homeAssistant) mqtt.accounts = [{ ...o.homeAssistant, role: "homeassistant" }];
  }
  return {
    cloud: {
      url: o.cloudUrl,
      bridgeId: o.bridgeId,
      secret: o.bridgeSecret,
      ...(o.pollWaitSeconds !== undefined ? { pollWaitSeconds: o.pollWaitSeconds } : {}),
      ...(o.backoffMaxMs !== undefined
        ? { backoffInitialMs: Math.min(500, o.backoffMaxMs), backoffMaxMs: o.backoffMaxMs }
        : {}),
    },
    dataDir: o.dataDir,
    ...(o.topicPrefix !== undefined ? { topicPrefix: o.topicPrefix } : {}),
    mqtt,
    vendorAccounts: [{ vendor: "sim", username: o.vendor.username, password: o.vendor.password }],
    ...(o.discoveryPrefix !== undefined ? { homeassistant: { discoveryPrefix: o.discoveryPrefix } } : {}),
    metrics: { host: "127.0.0.1", port: o.metricsPort },
    log: { level: o.logLevel ?? "info" },
  };
}

/** Writes the bridge's YAML file with mode 0600 (it holds the bridge secret and the site secret). */
export function writeBridgeConfig(file: string, options: BridgeFileOptions): void {
  const header =
    "# Written by latchkey-stack at every start from data/stack.json and its flags: edits here do not last.\n" +
    "# A bridge of your own starts from `latchkey-bridge init`.\n";
  writeFileSync(file, header + stringify(bridgeConfig(options)), { mode: 0o600 });
}

export interface BridgeProcess {
  child: ManagedChild;
  /** Where locks connect. */
  mqttUrl: string;
  metricsUrl: string | null;
}

/** `latchkey-bridge --config <file>`; resolves once it logged "bridge started" (with its broker and metrics URLs). */
export async function startBridgeProcess(
  bin: string,
  configFile: string,
  env: NodeJS.ProcessEnv,
  options: { timeoutMs?: number; ownProcessGroup?: boolean; nodeArgs?: string[] } = {},
): Promise<BridgeProcess> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const child = new ManagedChild({
    name: "bridge",
    script: bin,
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    args: ["--config", configFile],
    env,
    ownProcessGroup: options.ownProcessGroup === true,
  });
  try {
    const record = await child.waitForLog("bridge started", (r) => typeof r.mqttUrl === "string", { timeoutMs });
    return {
      child,
      mqttUrl: String(record.mqttUrl),
      metricsUrl: typeof record.metricsUrl === "string" ? record.metricsUrl : null,
    };
  } catch (e) {
    await child.kill();
    throw e;
  }
}
