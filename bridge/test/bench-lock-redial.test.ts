import { type AddressInfo, createServer, type Server } from "node:net";
import type { Aedes } from "aedes";
import { afterEach, describe, expect, it } from "vitest";
import { BenchLock, connectBackoffMs, connectTrouble } from "../bench/lock-clients.js";
import { waitFor } from "./helpers/wait.js";

const SECRET = "bench-lock-redial-test-secret";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The benchmarks' lock clients behave like locks: a failed connect or a lost connection is dialled again. */
describe("bench lock clients", () => {
  let broker: Aedes | null = null;
  let server: Server | null = null;
  let lock: BenchLock | null = null;
  afterEach(async () => {
    await lock?.close().catch(() => {});
    await new Promise<void>((resolve) => (broker ? broker.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    broker = null;
    server = null;
    lock = null;
  });

  const listen = async (port: number) => {
    const { Aedes } = await import("aedes");
    const b = await Aedes.createBroker();
    broker = b;
    server = createServer((socket) => b.handle(socket));
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
  };

  it("redials a refused connect with backoff, and a connection lost after its setup", async () => {
    const port = await freePort();
    lock = new BenchLock("redial-lock", `mqtt://127.0.0.1:${port}`, SECRET);
    // Nothing listens yet: the first attempts are refused, and the lock keeps dialling until the broker is up.
    const connecting = lock.connect();
    await new Promise((r) => setTimeout(r, 300));
    await listen(port);
    await connecting;
    expect(lock.retries).toBeGreaterThan(0);
    expect(lock.failures[0]).toMatch(/ECONNREFUSED/);
    expect(lock.client.connected).toBe(true);

    // The broker drops it after its setup: counted, and dialled again.
    const first = lock.client;
    const clients = (broker as unknown as { clients: Record<string, { close(): void }> }).clients;
    clients["redial-lock"]!.close();
    await waitFor("redialled", () => lock!.client !== first && lock!.client.connected, { timeoutMs: 10_000 });
    expect(lock.drops).toBe(1);
    expect(connectTrouble([lock])).toMatchObject({ drops: 1, retries: lock.retries });
  });

  it("backs off exponentially with a jitter fixed per lock and attempt, within its bounds", () => {
    expect(connectBackoffMs("a", 1)).toBe(connectBackoffMs("a", 1));
    for (const id of ["a", "b", "curve-lock-0001"])
      for (let attempt = 1; attempt <= 8; attempt++) {
        const base = Math.min(8_000, 250 * 2 ** (attempt - 1));
        const ms = connectBackoffMs(id, attempt);
        expect(ms).toBeGreaterThanOrEqual(base * 0.5);
        expect(ms).toBeLessThanOrEqual(base * 1.5);
      }
  });
});
