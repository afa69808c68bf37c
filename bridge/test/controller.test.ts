import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { startTestBridge } from "./helpers/bridge.js";
import { SITE_SECRET, tempDir } from "./helpers/fixtures.js";
import { TestCloud } from "./helpers/test-cloud.js";

async function listen(port = 0): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return server;
}
const portOf = (server: Server) => (server.address() as { port: number }).port;
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** startBridge is a controller of extensions: started in order, stopped in reverse, also when a start fails. */
describe("the bridge's controller", () => {
  // One cloud for the file; each test its own data directory. Bridges a test leaves running are stopped at the end.
  const cloud = new TestCloud();
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  const running: RunningBridge[] = [];
  const newDir = () => {
    const dir = tempDir();
    dirs.push(dir);
    return dir;
  };
  beforeAll(() => cloud.start());
  afterAll(async () => {
    for (const bridge of running) await bridge.stop();
    await cloud.stop();
    for (const dir of dirs) dir.remove();
  });

  it("a broker that cannot listen fails the start, and what had started (the metrics listener) is stopped", async () => {
    const dir = newDir();
    const busy = await listen();
    const probe = await listen();
    const metricsPort = portOf(probe);
    await close(probe);
    try {
      await expect(
        startTestBridge(cloud, dir.path, {
          mqtt: { siteSecret: SITE_SECRET, port: portOf(busy), host: "127.0.0.1" },
          metrics: { port: metricsPort, host: "127.0.0.1" },
        }),
      ).rejects.toThrow();
    } finally {
      await close(busy);
    }
    // The metrics listener started before the broker and was closed when the broker failed.
    await close(await listen(metricsPort));
    // Nothing of the failed start holds the data directory: the next bridge on it starts and serves.
    const { bridge } = await startTestBridge(cloud, dir.path, { metrics: { port: metricsPort, host: "127.0.0.1" } });
    running.push(bridge);
    await bridge.ready;
    expect((await fetch(`${bridge.metricsUrl}/healthz`)).status).toBe(200);
  });

  it("stops in reverse: /healthz says draining while the other parts stop, then the broker and database close", async () => {
    const { bridge } = await startTestBridge(cloud, newDir().path);
    await bridge.ready;
    expect(bridge.health()).toMatchObject({ ok: true });
    const stopping = bridge.stop();
    expect(bridge.health()).toMatchObject({ ok: false, status: "draining" });
    await stopping;
  });
});
