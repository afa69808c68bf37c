import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { choosePort, freePort, PortInUseError, portIsFree } from "../src/stack/ports.js";

describe("port choice", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  async function occupied(): Promise<number> {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return (server.address() as { port: number }).port;
  }

  it("keeps a free port, default or explicit", async () => {
    const port = await freePort();
    expect(await portIsFree(port)).toBe(true);
    expect(await choosePort(port, false, "--port")).toEqual({ port, fallback: false });
    expect(await choosePort(port, true, "--port")).toEqual({ port, fallback: false });
    expect(await choosePort(0, true, "--port")).toEqual({ port: 0, fallback: false });
  });

  it("a taken default port falls back to any free port (0), and says so", async () => {
    const port = await occupied();
    expect(await portIsFree(port)).toBe(false);
    expect(await choosePort(port, false, "--mqtt-port")).toEqual({ port: 0, fallback: true });
  });

  it("a taken port the user asked for is an error naming the flag", async () => {
    const port = await occupied();
    const error = await choosePort(port, true, "--mqtt-port").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortInUseError);
    expect((error as Error).message).toBe(
      `--mqtt-port ${port}: the port is taken by another process on 127.0.0.1 (choose another, or 0 for any free one)`,
    );
  });

  it("freePort: distinct ports in this worker's band, below the kernel's ephemeral range, skipping taken ones", async () => {
    const worker = Number(process.env.VITEST_POOL_ID ?? process.pid);
    const base = 20_000 + (worker % 8) * 1_500;
    const ports: number[] = [];
    for (let i = 0; i < 20; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(20);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(base);
      expect(port).toBeLessThan(base + 1_500);
      expect(port).toBeLessThan(32_768);
    }
    // The next port in the band, held by someone else, is skipped.
    const held = createServer();
    servers.push(held);
    const wanted = ports.at(-1)! + 1 < base + 1_500 ? ports.at(-1)! + 1 : base;
    await new Promise<void>((r) => held.listen(wanted, "127.0.0.1", r));
    const got = await freePort();
    expect(got).not.toBe(wanted);
    expect(await portIsFree(got)).toBe(true);
  });
});
