import { afterEach, beforeEach } from "vitest";
import type { BridgeConfigInit, BridgeOptions, RunningBridge } from "../../src/index.js";
import { startTestBridge } from "./bridge.js";
import { type LogCapture, tempDir } from "./fixtures.js";
import { MqttLock } from "./mqtt-lock.js";
import { TestCloud } from "./test-cloud.js";

/** A fresh cloud and data folder per test, the bridges started against them, and the locks that spoke to them. */
export interface BridgeSite {
  readonly cloud: TestCloud;
  readonly dir: { path: string; remove: () => void };
  /** The last bridge `start` started (a test that restarts its bridge reads the new one here). */
  readonly bridge: RunningBridge;
  /**
   * Starts a bridge against this test's cloud and folder (or `dataDir`, a path the test chose); every one started is
   * stopped after the test.
   */
  start(
    extra?: Partial<BridgeConfigInit>,
    options?: BridgeOptions,
    dataDir?: string,
  ): Promise<{ bridge: RunningBridge; log: LogCapture }>;
  /** A lock connected to the last bridge started, closed after the test. */
  lock(id: string, options?: ConstructorParameters<typeof MqttLock>[2]): Promise<MqttLock>;
  /** Closes this lock or MQTT client after the test (one the test built and connected itself). */
  track<C extends Closable>(client: C): C;
}

/** A test lock (`close`) or an mqtt.js client (`endAsync`). */
export type Closable = MqttLock | { endAsync: (force?: boolean) => Promise<void> };

/**
 * The set-up of the bridge's tests against a TestCloud, registered once per file: each test gets its own cloud and
 * data folder, and whatever it started (bridges, locks, MQTT clients) is stopped in the order a site goes down, locks first, even
 * when the test failed half-way.
 */
export function bridgeSiteEach(): BridgeSite {
  let cloud: TestCloud | null = null;
  let dir: BridgeSite["dir"] | null = null;
  const bridges: RunningBridge[] = [];
  const clients: Closable[] = [];
  const site: BridgeSite = {
    get cloud() {
      if (!cloud) throw new Error("the test cloud exists only inside a test");
      return cloud;
    },
    get dir() {
      if (!dir) throw new Error("the data folder exists only inside a test");
      return dir;
    },
    get bridge() {
      const last = bridges.at(-1);
      if (!last) throw new Error("no bridge started yet: call site.start()");
      return last;
    },
    async start(extra = {}, options = {}, dataDir = site.dir.path) {
      const started = await startTestBridge(site.cloud, dataDir, extra, options);
      bridges.push(started.bridge);
      return started;
    },
    async lock(id, options = {}) {
      const lock = site.track(new MqttLock(id, site.bridge.mqttUrl, options));
      await lock.connect();
      return lock;
    },
    track(client) {
      clients.push(client);
      return client;
    },
  };
  beforeEach(async () => {
    cloud = new TestCloud();
    await cloud.start();
    dir = tempDir();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await ("close" in c ? c.close() : c.endAsync(true)).catch(() => {});
    // Stopping a bridge twice is a no-op: a test may have stopped one itself.
    for (const b of bridges.splice(0).reverse()) await b.stop();
    await cloud?.stop();
    cloud = null;
    dir?.remove();
    dir = null;
  });
  return site;
}
