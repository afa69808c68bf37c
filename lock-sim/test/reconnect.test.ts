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

  it("doubles the wait with each failed attempt up to the maximum, spread ±50 %", () => {
    const random = seededRandom("reconnect");
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(30_000, 1000 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const wait = reconnectDelayMs(attempt, 1000, 30_000, random);
        expect(wait).toBeGreaterThanOrEqual(base * 0.5);
        expect(wait).toBeLessThan(base * 1.5);
      }
    }
    expect(reconnectDelayMs(1_000, 1000, 30_000, () => new Uint8Array([0, 0]))).toBe(15_000);
    expect(reconnectDelayMs(0, 1, 30_000, () => new Uint8Array([0, 0]))).toBe(1); // never 0: "do not reconnect"
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
    while (accepted.length < 6 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(accepted.length).toBeGreaterThanOrEqual(6);
    const gaps = accepted.slice(1).map((t, i) => t - accepted[i]!);
    // The wait before attempt n is at least half of 40 · 2^(n-1): the fifth gap is at least 320 ms, where a fixed
    // period would give ~40 ms (a slow machine only lengthens gaps, so this bound cannot fail from load).
    expect(gaps[4]).toBeGreaterThanOrEqual(300);
  });
});
