import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { pino } from "pino";
import { loadHardwareNoble } from "../ble/noble-loader.js";
import { CloudClient } from "../cloud/client.js";
import { CloudError, isCredentialsRefused } from "../cloud/errors.js";
import type { BridgeConfig } from "../config/schema.js";

/** One thing `latchkey-bridge check` tried: what, where, and what came of it. */
export interface CheckResult {
  what: "cloud" | "broker" | "metrics" | "ble";
  address: string;
  /** `warn`: the bridge runs without it (BLE), but says so. */
  result: "ok" | "failed" | "warn";
  detail: string;
}

const hostPort = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

/** Whether this host can listen where the bridge will (embedded broker, metrics): the port free, the address ours. */
function canListen(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (e: NodeJS.ErrnoException) =>
      resolve(
        e.code === "EADDRINUSE"
          ? "in use (another broker, or this bridge already running?)"
          : e.code === "EADDRNOTAVAIL"
            ? "not an address of this host"
            : e.code === "EACCES"
              ? "not allowed (a port below 1024 needs privileges)"
              : e.message,
      ),
    );
    server.listen(port, host, () => server.close(() => resolve(null)));
  });
}

async function checkCloud(config: BridgeConfig): Promise<CheckResult> {
  const client = new CloudClient({
    url: config.cloud.url,
    bridgeId: config.cloud.bridgeId,
    secret: config.cloud.secret,
    timeoutMs: Math.min(config.cloud.requestTimeoutSeconds, 10) * 1000,
    logger: pino({ level: "silent" }),
  });
  const address = config.cloud.url;
  try {
    // A login, then one read of the change feed from its start: nothing changes anywhere.
    await client.changes("", 0, 1);
    return {
      what: "cloud",
      address,
      result: "ok",
      detail: `logged in as ${config.cloud.bridgeId}, change feed readable`,
    };
  } catch (e) {
    if (isCredentialsRefused(e)) return { what: "cloud", address, result: "failed", detail: e.message };
    const error = e as Error;
    const detail =
      e instanceof CloudError && e.status === 0
        ? `unreachable: ${error.message}`
        : `answered with an error: ${error.message}`;
    return { what: "cloud", address, result: "failed", detail };
  }
}

/**
 * An external broker is asked for an anonymous session under a client id of its own: any CONNACK, accepted or not,
 * shows an MQTT broker answers there. The bridge's own login is not tried: with a broker that takes the user name as
 * client id (Mosquitto's `use_username_as_clientid`), it would take over a running bridge's session.
 */
async function checkExternalBroker(url: string): Promise<CheckResult> {
  const { default: mqtt } = await import("mqtt");
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      clientId: `latchkey-bridge-check-${randomBytes(4).toString("hex")}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      protocolVersion: 4,
    });
    const done = (result: CheckResult["result"], detail: string) => {
      client.end(true);
      resolve({ what: "broker", address: url, result, detail });
    };
    client.once("connect", () => done("ok", "an MQTT broker answers (it let an anonymous client in)"));
    client.once("error", (e: Error & { code?: number | string }) => {
      if (typeof e.code === "number")
        done("ok", `an MQTT broker answers (it refused an anonymous client: ${e.message})`);
      else done("failed", `unreachable: ${e.message}`);
    });
    client.once("close", () => done("failed", "unreachable: the connection closed without an MQTT answer"));
  });
}

/**
 * `latchkey-bridge check` beyond the settings: tries the cloud (a login and one read of the change feed), the broker
 * (an external one answers; the embedded one's port is free), the metrics port, and BLE when enabled (a warning only:
 * the bridge runs without an adapter and keeps trying it).
 */
export async function checkEnvironment(config: BridgeConfig): Promise<CheckResult[]> {
  const results: Promise<CheckResult>[] = [checkCloud(config)];
  if (config.mqtt.broker === "external") results.push(checkExternalBroker(config.mqtt.url!));
  else {
    const { host, port, wsPort } = config.mqtt;
    for (const p of wsPort === null ? [port] : [port, wsPort]) {
      const address = hostPort(host, p);
      results.push(
        (p === 0 ? Promise.resolve(null) : canListen(host, p)).then((problem) => ({
          what: "broker",
          address,
          result: problem ? "failed" : "ok",
          detail: problem ?? (p === 0 ? "any free port (chosen at start)" : "free to listen"),
        })),
      );
    }
  }
  if (config.metrics.enabled) {
    const address = hostPort(config.metrics.host, config.metrics.port);
    results.push(
      (config.metrics.port === 0 ? Promise.resolve(null) : canListen(config.metrics.host, config.metrics.port)).then(
        (problem) => ({
          what: "metrics",
          address,
          result: problem ? "failed" : "ok",
          detail: problem ?? "free to listen (/metrics, /healthz, the status page)",
        }),
      ),
    );
  }
  if (config.ble.enabled)
    results.push(
      loadHardwareNoble().then(
        () => ({ what: "ble", address: "Bluetooth adapter", result: "ok", detail: "noble loaded" }),
        (e: Error) => ({
          what: "ble",
          address: "Bluetooth adapter",
          result: "warn",
          detail: `${e.message} (the bridge serves MQTT locks and tries the adapter again)`,
        }),
      ),
    );
  return Promise.all(results);
}
