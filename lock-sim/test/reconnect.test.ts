import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { reconnectDelayMs } from "../src/mqtt/reconnect-delay.js";
import { TempDirs } from "./helpers/tmp.js";

/** docs/mqtt.md "Reconnecting": a lock that cannot reach its broker backs off, spread, instead of redialling in step. */
describe("reconnecting", () => {
  const tmp = new TempDirs();
  const locks: SimLock[] = [];
  let server: Server | null = null;

  afterEach(async () => {
    for (const lock of locks.splice(0)) await lock.stop();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = null;
    tmp.cleanup();
  });

  it("draws the wait below a ceiling that doubles with each failed attempt up to the maximum (full jitter)", () => {
    const random = seededRandom("reconnect");
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(30_000, 1000 * 2 ** attempt);
      const waits = Array.from({ length: 200 }, () => reconnectDelayMs(attempt, 1000, 30_000, random));
      for (const wait of waits) {
        expect(wait).toBeGreaterThanOrEqual(1);
        expect(wait).toBeLessThanOrEqual(ceiling);
      }
      // The whole window from 0 is used, not a band around the ceiling: a site's locks spread over all of it.
      expect(Math.min(...waits)).toBeLessThan(ceiling * 0.1);
      expect(Math.max(...waits)).toBeGreaterThan(ceiling * 0.9);
    }
    expect(reconnectDelayMs(1_000, 1000, 30_000, () => new Uint8Array([0x80, 0]))).toBe(15_000);
    expect(reconnectDelayMs(1_000, 1000, 30_000, () => new Uint8Array([0xff, 0xff]))).toBe(30_000);
    expect(reconnectDelayMs(0, 1000, 30_000, () => new Uint8Array([0, 0]))).toBe(1); // never 0: "do not reconnect"
  });

  it("spreads the locks of one site: the same attempt waits differently on each lock", () => {
    const waits = new Set(
      Array.from({ length: 20 }, (_, i) => reconnectDelayMs(0, 1000, 30_000, seededRandom(`lock-${i}`))),
    );
    expect(waits.size).toBeGreaterThan(15);
  });

  it("a lock whose broker hangs up at every attempt waits longer each time", async () => {
    // A listener that takes each connection and closes it before any CONNACK: every attempt fails.
    const accepted: number[] = [];
    server = createServer((socket) => {
      accepted.push(performance.now());
      socket.destroy();
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const lock = await startLock({
      lockId: "lock-backoff",
      dataDir: tmp.make(),
      mqttUrl: `mqtt://127.0.0.1:${port}`,
      siteSecret: "site-secret-for-tests-0123456789",
      random: seededRandom("lock-backoff"),
      tickIntervalMs: 0,
      awaitConnection: false,
      mqtt: { reconnectPeriodMs: 40, reconnectMaxMs: 640 },
    });
    locks.push(lock);
    const deadline = performance.now() + 20_000;
    while (accepted.length < 9 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(accepted.length).toBeGreaterThanOrEqual(9);
    const gaps = accepted.slice(1).map((t, i) => t - accepted[i]!);
    // From the fifth wait on the ceiling is the maximum, 640 ms, and each wait a uniform draw below it: the five gaps
    // after the third sum to ~1.6 s (the seeded draws fix them), where a fixed period would give ~200 ms (a slow
    // machine only lengthens gaps, so this bound cannot fail from load).
    expect(gaps.slice(3, 8).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(600);
  });
});
