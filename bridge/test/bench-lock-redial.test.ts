import { type AddressInfo, createServer, type Server } from "node:net";
import type { Aedes } from "aedes";
import { afterEach, describe, expect, it } from "vitest";
import { BenchLock, benchLockIds, connectBackoffMs, connectTrouble } from "../bench/lock-clients.js";
import { listenOverflows } from "../bench/locks-curve.js";
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

  it("backs off as the reference lock: 1 s doubling to 30 s, ±50 %, the spread fixed per lock, failure and dial", () => {
    expect(connectBackoffMs("a", 1)).toBe(connectBackoffMs("a", 1));
    for (const id of ["a", "b", "curve-lock-0001"])
      for (let failure = 1; failure <= 12; failure++) {
        // lock-sim reconnectDelayMs(failure - 1, 1000, 30000, random)
        const base = Math.min(30_000, 1_000 * 2 ** (failure - 1));
        const ms = connectBackoffMs(id, failure, failure % 3);
        expect(ms).toBeGreaterThanOrEqual(base * 0.5);
        expect(ms).toBeLessThanOrEqual(base * 1.5);
      }
    // Locks that lost the broker together spread their first redial over the second around 1 s, not in one burst.
    const first = benchLockIds(200, "spread").map((id) => connectBackoffMs(id, 1));
    expect(Math.min(...first)).toBeLessThan(600);
    expect(Math.max(...first)).toBeGreaterThan(1_400);
  });

  it("builds its sealed events ahead, and publishes exactly those", async () => {
    const port = await freePort();
    await listen(port);
    lock = new BenchLock("prepared-lock", `mqtt://127.0.0.1:${port}`, SECRET);
    await lock.connect();
    const prepared = lock.prepareEvents(3);
    expect(lock.seq).toBe(3);
    const seen: Buffer[] = [];
    broker!.on("publish", (packet) => {
      if (packet.topic.endsWith("/events")) seen.push(Buffer.from(packet.payload as Buffer));
    });
    await lock.publishEvents(0, 2, undefined, prepared);
    expect(lock.seq).toBe(3);
    expect(seen.map((b) => b.toString("hex")).sort()).toEqual(prepared.map((b) => b.toString("hex")).sort());
  });

  // 10,000 locks, 2026-12-07: a connection dropped while its events were in flight; the bench published on the ended
  // client, mqtt.js threw inside its store and the bench's process died.
  it("sends an event again on the redial's connection when its connection is lost before the PUBACK", async () => {
    const port = await freePort();
    const { Aedes } = await import("aedes");
    let held = false;
    const seen: { client: unknown; payload: string }[] = [];
    const b = await Aedes.createBroker({
      authorizePublish: (client, packet, done) => {
        if (!packet.topic.endsWith("/events")) return done(null);
        seen.push({ client, payload: Buffer.from(packet.payload as Buffer).toString("hex") });
        // The first event: no PUBACK, the connection dropped instead.
        if (!held) {
          held = true;
          client!.close();
          return;
        }
        done(null);
      },
    });
    broker = b;
    server = createServer((socket) => b.handle(socket));
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    lock = new BenchLock("resend-lock", `mqtt://127.0.0.1:${port}`, SECRET);
    await lock.connect();
    const prepared = lock.prepareEvents(3);
    await lock.publishEvents(0, 1, undefined, prepared);
    expect(lock.drops).toBe(1);
    expect(lock.resent).toBe(1);
    expect(connectTrouble([lock])).toMatchObject({ drops: 1, resent: 1 });
    // The lost one went again, on the new connection, and all three were taken.
    expect(seen.map((s) => s.payload)).toEqual([prepared[0], ...prepared].map((p) => p!.toString("hex")));
    expect(seen[1]!.client).not.toBe(seen[0]!.client);
  });

  it("reads the kernel's listen-queue overflows from /proc/net/netstat", () => {
    const netstat =
      "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 5 848 850\nIpExt: InNoRoutes\nIpExt: 0\n";
    expect(listenOverflows(netstat)).toBe(848);
    expect(listenOverflows("IpExt: InNoRoutes\nIpExt: 0\n")).toBeNull();
    expect(listenOverflows(null)).toBeNull();
  });
});
