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
    [["--port", "70000"], /--port must be a port number/],
    [["--mqtt-port", "x"], /--mqtt-port must be a port number/],
    [["--locks", "0"], /--locks must be a whole number from 1 to 100/],
    [["--locks", "101"], /--locks/],
    [["--keep-running"], /--keep-running only applies with --demo/],
    [["--database-url", "mysql://x"], /--database-url must look like/],
    [["--database-url", "env"], /--database-url env: the environment variable DATABASE_URL is not set/],
    [["--mqtt-url", "http://x"], /--mqtt-url must look like/],
    [["--colour"], /unknown option '--colour'/],
  ])("%j is a usage error naming the flag", (argv, message) => {
    expect(() => parseStackArgs(argv, {})).toThrow(UsageError);
    expect(() => parseStackArgs(argv, {})).toThrow(message);
  });
});
