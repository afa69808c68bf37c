import { vendorCredentialDigestSync } from "@latchkey/protocol";
import type mqtt from "mqtt";
import { type BridgeConfigInit, type BridgeOptions, type RunningBridge, startBridge } from "../../src/index.js";
import { LogCapture, SITE_SECRET, seededRandom } from "./fixtures.js";
import type { TestCloud } from "./test-cloud.js";

export const HA_USER = "homeassistant@site";
export const HA_PASSWORD = "home-assistant-password";
export const VENDOR = { vendor: "sim" as const, username: "site-a", password: "vendor-password" };

/** The QoS granted per topic (128 = refused); mqtt.js rejects a SUBACK with refusals, carrying the packet. */
export async function granted(client: mqtt.MqttClient, topics: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(topics, { qos: 1 })).map((g) => g.qos);
  } catch (e) {
    const packet = (e as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw e;
    return packet.granted;
  }
}

/** Settings for a bridge against a TestCloud: free ports, fast retries, short long-polls. */
export function testConfig(cloud: TestCloud, dataDir: string, extra: Partial<BridgeConfigInit> = {}): BridgeConfigInit {
  return {
    ...extra,
    cloud: {
      url: cloud.url,
      bridgeId: cloud.bridgeId,
      secret: cloud.secret,
      pollWaitSeconds: 2,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      requestTimeoutSeconds: 5,
      ...extra.cloud,
    },
    dataDir,
    mqtt: {
      siteSecret: SITE_SECRET,
      port: 0,
      accounts: [{ username: HA_USER, password: HA_PASSWORD, role: "homeassistant" }],
      ...extra.mqtt,
    },
    metrics: { port: 0, ...extra.metrics },
    vendorAccounts: extra.vendorAccounts ?? [VENDOR],
    log: { level: "debug", ...extra.log },
  } as BridgeConfigInit;
}

export async function startTestBridge(
  cloud: TestCloud,
  dataDir: string,
  extra: Partial<BridgeConfigInit> = {},
  options: BridgeOptions = {},
): Promise<{ bridge: RunningBridge; log: LogCapture }> {
  const log = new LogCapture();
  const bridge = await startBridge(testConfig(cloud, dataDir, extra), {
    logStream: log,
    random: seededRandom(),
    ...options,
  });
  return { bridge, log };
}

/**
 * The feed entries that give this bridge a lock holder, a sim vendor connection, locks and an issuer key (the bridge
 * keeps nothing of the key: it only means the locks' signed states changed).
 */
export function siteChanges(
  cloud: TestCloud,
  lockIds: string[],
  options: { password?: string; vcId?: string; state?: string } = {},
): void {
  const salt = Buffer.from("0123456789abcdef").toString("base64url");
  const vcId = options.vcId ?? "vc_1";
  cloud.append({
    kind: "vendor_connection",
    vendorConnection: {
      id: vcId,
      lockHolderId: "lh_1",
      vendor: "sim",
      username: VENDOR.username,
      credentialCheck: {
        salt,
        digest: vendorCredentialDigestSync("sim", VENDOR.username, options.password ?? VENDOR.password, salt),
      },
      state: options.state ?? "connecting",
      deleted: false,
    },
  });
  cloud.append({ kind: "issuer", lockHolderId: "lh_1", kid: "a1b2", x: "11".repeat(32), retired: false });
  for (const lockId of lockIds) {
    cloud.append({ kind: "lock", lockId, vendorConnectionId: vcId, lockHolderId: "lh_1", removed: false });
    cloud.servedLocks.add(lockId);
  }
}
