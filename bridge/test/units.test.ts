import { describe, expect, it } from "vitest";
import { BleUnavailableError, loadHardwareNoble } from "../src/ble/noble-loader.js";
import { nodeId } from "../src/homeassistant/discovery.js";
import { AckRefetch } from "../src/trust/ack-refetch.js";

describe("state refetch after accepted reports", () => {
  it("fetches a lock at once, then at most once per interval however many batches are accepted", () => {
    let now = 0;
    const fetched: string[][] = [];
    const refetch = new AckRefetch(
      10_000,
      () => now,
      (ids) => fetched.push([...ids]),
    );
    try {
      refetch.accepted(["door-a", "door-b"]);
      expect(fetched).toEqual([["door-a", "door-b"]]);
      // Accepted again and again inside the interval: one deferred fetch each, nothing now.
      for (let i = 0; i < 50; i++) {
        now += 100;
        refetch.accepted(["door-a"]);
      }
      now = 9_999;
      refetch.flush();
      expect(fetched).toHaveLength(1);
      expect(refetch.deferred).toBe(1);
      now = 10_000;
      refetch.flush();
      expect(fetched).toEqual([["door-a", "door-b"], ["door-a"]]);
      expect(refetch.deferred).toBe(0);
      // The interval counts from that fetch: another acceptance right after waits for it again.
      now = 10_500;
      refetch.accepted(["door-a", "door-b"]);
      expect(fetched.at(-1)).toEqual(["door-b"]);
      now = 20_000;
      refetch.flush();
      expect(fetched.at(-1)).toEqual(["door-a"]);
      expect(fetched.flat().filter((id) => id === "door-a")).toHaveLength(3);
    } finally {
      refetch.stop();
    }
  });
});

describe("identifiers", () => {
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
