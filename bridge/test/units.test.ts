import { ManualClock } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { BleUnavailableError, loadHardwareNoble } from "../src/ble/noble-loader.js";
import { nodeId } from "../src/homeassistant/discovery.js";
import { telemetryId } from "../src/locks/lock-messages.js";
import { Backoff } from "../src/retry/backoff.js";
import { TrustedTime } from "../src/time/trusted-time.js";
import { seededRandom } from "./helpers/fixtures.js";

describe("backoff", () => {
  it("doubles up to the cap with jitter in [d/2, d], and starts over after a success", () => {
    const backoff = new Backoff(100, 1000, seededRandom(7));
    const delays = Array.from({ length: 8 }, () => backoff.next());
    const nominal = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(nominal[i]! / 2);
      expect(d).toBeLessThanOrEqual(nominal[i]!);
    });
    expect(new Set(delays.slice(4)).size).toBeGreaterThan(1);
    backoff.reset();
    expect(backoff.next()).toBeLessThanOrEqual(100);
  });
});

describe("trusted time", () => {
  it("uses the system clock, or corrects it by the cloud's Date header", () => {
    const clock = new ManualClock(1_800_000_000_000);
    expect(new TrustedTime(clock, "system").nowSeconds()).toBe(1_800_000_000);
    const fromCloud = new TrustedTime(clock, "cloud");
    expect(fromCloud.status.synchronized).toBe(false);
    fromCloud.observeCloud(1_800_000_100_000, 1_800_000_000_000); // the gateway is 100 s behind
    expect(fromCloud.nowSeconds()).toBe(1_800_000_100);
    expect(fromCloud.status).toMatchObject({ synchronized: true });
    fromCloud.observeCloud(1_800_000_000_000, 1_800_000_000_200); // within the header's resolution: no correction
    expect(fromCloud.nowSeconds()).toBe(1_800_000_000);
  });
});

describe("identifiers", () => {
  it("names telemetry by lock and content, so a re-sent reading is kept once", () => {
    const a = telemetryId("lock-a", new Uint8Array([1, 2, 3]));
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(telemetryId("lock-a", new Uint8Array([1, 2, 3]))).toBe(a);
    expect(telemetryId("lock-b", new Uint8Array([1, 2, 3]))).not.toBe(a);
  });

  it("gives Home Assistant ids without the characters it refuses, and keeps them distinct", () => {
    expect(nodeId("front-door")).toBe("latchkey_front-door");
    expect(nodeId("a.b")).toMatch(/^latchkey_a_b_[0-9a-f]{6}$/);
    expect(nodeId("a.b")).not.toBe(nodeId("a:b"));
    expect(nodeId("a.b")).not.toBe(nodeId("a_b"));
  });
});

describe("BLE on a host without an adapter", () => {
  it("fails with a clear error naming the option and the fix", async () => {
    const error = await loadHardwareNoble(() => {
      throw new Error("EAFNOSUPPORT, Address family not supported by protocol");
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BleUnavailableError);
    expect((error as Error).message).toMatch(/^ble\.enabled is set but Bluetooth LE is unavailable on this host/);
    expect((error as Error).message).toContain("EAFNOSUPPORT");
    expect((error as Error).message).toContain("ble.enabled: false");
  });
});
