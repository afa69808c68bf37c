import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError, loadBridgeConfig, parseBridgeConfig, starterConfig } from "../src/index.js";
import { tempDir } from "./helpers/fixtures.js";

const minimal = {
  cloud: { url: "http://127.0.0.1:8080", bridgeId: "br_1", secret: "a-bridge-secret" },
  mqtt: { siteSecret: "0123456789abcdef0123" },
};

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.key}: ${i.message}`);
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove();
  });
  const file = (text: string) => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir.path, "bridge.yaml");
    writeFileSync(path, text);
    return { path, dir: dir.path };
  };

  it("applies defaults to a minimal file and resolves dataDir next to it", () => {
    const f = file(
      "cloud:\n  url: http://127.0.0.1:8080\n  bridgeId: br_1\n  secret: a-bridge-secret\nmqtt:\n  siteSecret: 0123456789abcdef0123\n",
    );
    const config = loadBridgeConfig(f.path, {});
    expect(config.mqtt).toMatchObject({
      broker: "embedded",
      port: 1883,
      host: "127.0.0.1",
      wsPort: null,
      accounts: [],
    });
    expect(config.outbox).toMatchObject({ fullPolicy: "refuse", synchronous: "full", maxItems: 1_000_000 });
    expect(config.topicPrefix).toBe("latchkey");
    expect(config.dataDir).toBe(join(f.dir, "data/bridge"));
    expect(config.homeassistant.enabled).toBe(true);
  });

  it("names the bad key and the expected value, never echoing secrets", () => {
    const found = issues(() =>
      parseBridgeConfig({
        ...minimal,
        mqtt: { siteSecret: "short", port: 70000, brokr: "embedded" },
        outbox: { fullPolicy: "explode" },
        vendorAccounts: [{ vendor: "zigbee", username: "u", password: "p" }],
      }),
    );
    expect(found).toContain("mqtt.port: must be at most 65535 (got 70000)");
    expect(found).toContain('mqtt.brokr: is not a known option (did you mean "broker"?)');
    expect(found).toContain("mqtt.siteSecret: must be at least 16 characters");
    expect(found).toContain('outbox.fullPolicy: must be one of refuse, drop-oldest (got "explode")');
    expect(found).toContain('vendorAccounts[0].vendor: must be one of sim, ble (got "zigbee")');
    expect(found.join("\n")).not.toContain("short");
  });

  it("refuses the options the switch-over removed, naming each and saying why (docs/trust.md)", () => {
    const found = issues(() =>
      parseBridgeConfig({ ...minimal, time: { source: "cloud" }, sync: { resendSeconds: 30, sendGrants: false } }),
    );
    expect(found).toEqual([
      expect.stringMatching(
        /^time\.source: was removed: locks take their time only from the cloud's signed time answers/,
      ),
      expect.stringMatching(
        /^sync\.resendSeconds: was removed: locks take their trust only from the cloud's signed state/,
      ),
      expect.stringMatching(/^sync\.sendGrants: was removed: .*no sync messages, versions or grants any more/),
    ]);
    // A bare section is named as such; nothing else is reported about it (no "is not a known option").
    expect(issues(() => parseBridgeConfig({ ...minimal, sync: null }))).toEqual([
      expect.stringMatching(/^sync: was removed/),
    ]);
    const f = file(
      "cloud:\n  url: http://127.0.0.1:8080\n  bridgeId: br_1\n  secret: a-bridge-secret\nmqtt:\n  siteSecret: 0123456789abcdef0123\ntime:\n  source: system\n",
    );
    expect(issues(() => loadBridgeConfig(f.path, {}))).toEqual([expect.stringMatching(/^time\.source: was removed/)]);
    expect(
      issues(() =>
        loadBridgeConfig(
          file(
            "cloud:\n  url: http://x\n  bridgeId: b\n  secret: a-bridge-secret\nmqtt:\n  siteSecret: 0123456789abcdef0123\n",
          ).path,
          {
            LATCHKEY_BRIDGE_TIME_SOURCE: "cloud",
            LATCHKEY_BRIDGE_SYNC_RESEND_SECONDS: "5",
          },
        ),
      ),
    ).toEqual([
      expect.stringMatching(/^LATCHKEY_BRIDGE_TIME_SOURCE: was removed/),
      expect.stringMatching(/^LATCHKEY_BRIDGE_SYNC_RESEND_SECONDS: was removed/),
    ]);
    expect(starterConfig({})).not.toMatch(/resendSeconds|sendGrants|^time:/m);
  });

  it("reports missing required keys", () => {
    expect(issues(() => parseBridgeConfig({ mqtt: minimal.mqtt }))).toContain("cloud: is required");
    expect(issues(() => parseBridgeConfig({ cloud: { url: "http://x" }, mqtt: minimal.mqtt }))).toEqual(
      expect.arrayContaining(["cloud.bridgeId: is required", "cloud.secret: is required"]),
    );
  });

  it("takes environment overrides typed by the schema", () => {
    const f = file(
      "cloud:\n  url: http://127.0.0.1:8080\n  bridgeId: br_1\n  secret: a-bridge-secret\nmqtt:\n  siteSecret: 0123456789abcdef0123\n",
    );
    const config = loadBridgeConfig(f.path, {
      LATCHKEY_BRIDGE_MQTT_PORT: "0",
      LATCHKEY_BRIDGE_MQTT_WS_PORT: "0",
      LATCHKEY_BRIDGE_HOMEASSISTANT_ENABLED: "false",
      LATCHKEY_BRIDGE_CLOUD_SECRET: "from-the-environment",
      LATCHKEY_BRIDGE_VENDOR_ACCOUNTS: '[{"vendor":"sim","username":"site-a","password":"pw"}]',
      LATCHKEY_BRIDGE_CONFIG: "ignored: it names the file",
      OTHER: "x",
    });
    expect(config.mqtt.port).toBe(0);
    expect(config.mqtt.wsPort).toBe(0);
    expect(config.homeassistant.enabled).toBe(false);
    expect(config.cloud.secret).toBe("from-the-environment");
    expect(config.vendorAccounts).toEqual([{ vendor: "sim", username: "site-a", password: "pw" }]);
  });

  it("refuses unknown and malformed environment variables by name", () => {
    const f = file(
      "cloud:\n  url: http://127.0.0.1:8080\n  bridgeId: br_1\n  secret: a-bridge-secret\nmqtt:\n  siteSecret: 0123456789abcdef0123\n",
    );
    expect(
      issues(() => loadBridgeConfig(f.path, { LATCHKEY_BRIDGE_MQTT_PROT: "1", LATCHKEY_BRIDGE_METRICS_PORT: "x" })),
    ).toEqual([
      "LATCHKEY_BRIDGE_MQTT_PROT: is not a bridge option (see latchkey-bridge --help for the list)",
      "LATCHKEY_BRIDGE_METRICS_PORT: must be an integer",
    ]);
  });

  it("explains YAML syntax errors and unreadable files", () => {
    const f = file("cloud: [unclosed\n");
    expect(issues(() => loadBridgeConfig(f.path, {}))[0]).toMatch(/^\(yaml\): /);
    expect(issues(() => loadBridgeConfig(join(f.dir, "missing.yaml"), {}))[0]).toMatch(/^\(file\): cannot be read/);
    expect(issues(() => loadBridgeConfig(file("- a\n- b\n").path, {}))).toEqual([
      "(root): must be a mapping of options",
    ]);
  });

  it("checks rules across keys", () => {
    expect(issues(() => parseBridgeConfig({ ...minimal, mqtt: { ...minimal.mqtt, broker: "external" } }))).toEqual([
      "mqtt.url: is required when mqtt.broker is external",
    ]);
    expect(parseBridgeConfig({ ...minimal, mqtt: { ...minimal.mqtt, url: "mqtt://127.0.0.1:1883" } }).mqtt.broker).toBe(
      "external",
    );
    expect(
      issues(() =>
        parseBridgeConfig({
          ...minimal,
          mqtt: { ...minimal.mqtt, accounts: [{ username: "homeassistant", password: "long-enough-password" }] },
        }),
      ),
    ).toEqual([expect.stringMatching(/^mqtt\.accounts\[0\]\.username: must not look like a lock id/)]);
    expect(issues(() => parseBridgeConfig({ ...minimal, homeassistant: { discoveryPrefix: "latchkey" } }))).toEqual([
      expect.stringMatching(/^homeassistant\.discoveryPrefix: must differ/),
    ]);
  });

  it("refuses a status page open to the network without a login (status.password), and takes one with it", () => {
    expect(issues(() => parseBridgeConfig({ ...minimal, metrics: { host: "0.0.0.0" } }))).toEqual([
      "status.password: is required when metrics.host (0.0.0.0) is not a loopback address: the status page would be " +
        "open to the network without a login (or set status.enabled: false)",
    ]);
    const lan = { ...minimal, metrics: { host: "0.0.0.0" }, status: { password: "a-long-status-password" } };
    expect(parseBridgeConfig(lan).status).toEqual({
      enabled: true,
      username: "operator",
      password: "a-long-status-password",
    });
    expect(
      parseBridgeConfig({ ...minimal, metrics: { host: "0.0.0.0" }, status: { enabled: false } }).status.enabled,
    ).toBe(false);
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
      expect(parseBridgeConfig({ ...minimal, metrics: { host } }).status.password).toBeUndefined();
    // A short password is named and never echoed.
    const short = issues(() => parseBridgeConfig({ ...lan, status: { password: "short-pw" } }));
    expect(short).toEqual(["status.password: must be at least 12 characters"]);
    const defaults = parseBridgeConfig(minimal);
    expect(defaults.health).toEqual({ cloudUnreachableSeconds: 300, outboxPercent: 80 });
    expect(defaults.ble.retryMaxSeconds).toBe(300);
  });

  it("writes a commented starter file that lists every option and validates once filled in", () => {
    const starter = starterConfig({});
    expect(starter).toContain("# Site secret");
    expect(starter).toContain("fullPolicy: refuse");
    expect(starter).toMatch(/# {3}- vendor: sim/);
    const siteSecret = (parse(starter) as { mqtt: { siteSecret: string } }).mqtt.siteSecret;
    expect(siteSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(starterConfig({}).includes(siteSecret)).toBe(false);
    expect(issues(() => loadBridgeConfig(file(starter).path, {}))).toEqual([
      "cloud.bridgeId: is still the placeholder: set the bridgeId answered by POST /integrators/v1/lock-holders/{lhId}/bridges",
      "cloud.secret: is still the placeholder: set the secret answered with the bridgeId",
    ]);
    const filled = starterConfig({ cloudUrl: "http://127.0.0.1:9", bridgeId: "br_9", bridgeSecret: "s3cret-value" });
    const config = loadBridgeConfig(file(filled).path, {});
    expect(config.cloud).toMatchObject({ url: "http://127.0.0.1:9", bridgeId: "br_9", secret: "s3cret-value" });
  });
});
