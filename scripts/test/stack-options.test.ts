import { UsageError } from "@latchkey/runtime";
import { describe, expect, it } from "vitest";
import { DEFAULT_PORTS, parseStackArgs } from "../src/stack/options.js";

describe("latchkey-stack options", () => {
  it("defaults: ./data, ports 8080/1883/9108 (not explicit), 3 locks, embedded stores", () => {
    const o = parseStackArgs([], {}, "/work");
    expect(o).toMatchObject({
      dataDir: "/work/data",
      apiPort: DEFAULT_PORTS.apiPort,
      mqttPort: 1883,
      metricsPort: 9108,
      explicit: { apiPort: false, mqttPort: false, metricsPort: false },
      locks: 3,
      demo: false,
      summaryJson: undefined,
      databaseUrl: undefined,
      mqttUrl: undefined,
    });
  });

  it("DATABASE_URL and MQTT_URL in the environment change nothing without the flags", () => {
    const env = { DATABASE_URL: "postgres://u@db/x", MQTT_URL: "mqtt://broker:1883" };
    expect(parseStackArgs([], env)).toMatchObject({ databaseUrl: undefined, mqttUrl: undefined });
    expect(parseStackArgs(["--database-url", "env", "--mqtt-url", "env"], env)).toMatchObject({
      databaseUrl: "postgres://u@db/x",
      mqttUrl: "mqtt://broker:1883",
    });
    expect(parseStackArgs(["--mqtt-url", "mqtt://other:1884"], env).mqttUrl).toBe("mqtt://other:1884");
  });

  it("flags: ports are explicit, paths resolve against the working directory", () => {
    const o = parseStackArgs(
      ["--port", "0", "--mqtt-port", "1884", "--data", "d", "--summary-json", "s.json", "--demo", "--locks", "5"],
      {},
      "/w",
    );
    expect(o).toMatchObject({
      apiPort: 0,
      mqttPort: 1884,
      explicit: { apiPort: true, mqttPort: true, metricsPort: false },
      dataDir: "/w/d",
      summaryJson: "/w/s.json",
      demo: true,
      locks: 5,
    });
  });

  it.each([
    [["--port", "70000"], /--port: must be at most 65535 \(got 70000\)/],
    [["--mqtt-port", "x"], /--mqtt-port: must be an integer/],
    [["--locks", "0"], /--locks: must be at least 1 \(got 0\)/],
    [["--locks", "101"], /--locks/],
    [["--keep-running"], /--keep-running only applies with --demo/],
    [["--database-url", "mysql://x"], /--database-url must look like/],
    [["--database-url", "env"], /--database-url env: the environment variable DATABASE_URL is not set/],
    [["--mqtt-url", "http://x"], /--mqtt-url must look like/],
    [["--colour"], /unknown option '--colour'/],
    [["--ha-password", "short"], /--ha-password must be at least 12 characters/],
    [["--ha-password", "env"], /--ha-password env: the environment variable LATCHKEY_HA_PASSWORD is not set/],
    [["--ha-password", "long-enough-password", "--mqtt-url", "mqtt://b:1883"], /--ha-password applies to the embedded/],
    [["--mqtt-host", "0.0.0.0", "--mqtt-url", "mqtt://b:1883"], /--mqtt-host applies to the embedded broker/],
    [["--mqtt-host", "my-laptop"], /--mqtt-host must be an IP address to listen on/],
    [["--ble", "bluez"], /--ble: must be one of virtual, hci-emulated \(got "bluez"\)/],
  ])("%j is a usage error naming the flag", (argv, message) => {
    expect(() => parseStackArgs(argv, {})).toThrow(UsageError);
    expect(() => parseStackArgs(argv, {})).toThrow(message);
  });

  it("--ha-password (or LATCHKEY_HA_PASSWORD with `env`) gives Home Assistant a login; --mqtt-host opens the broker", () => {
    expect(parseStackArgs([], {})).toMatchObject({ homeAssistant: undefined, mqttHost: "127.0.0.1", ble: "virtual" });
    expect(parseStackArgs(["--ble", "hci-emulated"], {}).ble).toBe("hci-emulated");
    expect(parseStackArgs(["--ha-password", "a-long-password"], {}).homeAssistant).toEqual({
      username: "homeassistant@latchkey",
      password: "a-long-password",
    });
    expect(
      parseStackArgs(["--ha-password", "env", "--mqtt-host", "0.0.0.0"], { LATCHKEY_HA_PASSWORD: "from-the-env-1" }),
    ).toMatchObject({ homeAssistant: { password: "from-the-env-1" }, mqttHost: "0.0.0.0" });
    // The refusal never echoes the password.
    expect(() => parseStackArgs(["--ha-password", "sh0rt"], {})).not.toThrow(/sh0rt/);
  });
});
