import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SimLock } from "@latchkey/lock-sim";
import { toHex } from "@latchkey/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  acknowledged,
  cloudEvents,
  cloudLocks,
  createSite,
  deniedAttempt,
  ready,
  SITE_SECRET,
  type Site,
  until,
} from "./helpers.js";

const BRIDGE_BIN = fileURLToPath(new URL("../../bridge/bin/latchkey-bridge.js", import.meta.url));

/** Ids of the `denied` events the locks recorded (what the cloud must end up with, each once). */
const deniedIds = (locks: SimLock[]) =>
  locks.flatMap((l) => l.events.filter((e) => e.type === "denied").map((e) => toHex(e.id))).sort();

/** The seq of the last `denied` event `lock` made. */
const lastDenied = (lock: SimLock) => lock.events.filter((e) => e.type === "denied").at(-1)?.seq ?? 0;

async function expectEachDeniedEventOnce(site: Site, locks: SimLock[]): Promise<void> {
  const want = deniedIds(locks);
  const got = await until(
    `all ${want.length} events in the cloud`,
    async () => {
      const events = (await cloudEvents(site)).filter((e) => e.action === "denied");
      return events.length >= want.length ? events : null;
    },
    60_000,
  );
  const ids = got.map((e) => e.id as string).sort();
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids).toEqual(want);
}

describe("whole site: outages", () => {
  let site: Site | null = null;
  let child: ChildProcess | null = null;
  let proxy: Server | null = null;
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await new Promise((r) => child!.once("exit", r));
    }
    child = null;
    proxy?.closeAllConnections();
    proxy?.close();
    proxy = null;
    await site?.close();
    site = null;
  });

  it("cloud down for a while, then back: every event arrives once", async () => {
    site = await createSite();
    const bridge = await site.startBridge();
    const locks = [await site.startLock("lock-1"), await site.startLock("lock-2")];
    await until("locks in the cloud", async () => (await cloudLocks(site!)).length === 2);
    for (const lock of locks) await ready(lock);
    let n = 0;
    for (const lock of locks) for (let i = 0; i < 20; i++) deniedAttempt(lock, n++);
    await expectEachDeniedEventOnce(site, locks);

    await site.stopCloud();
    for (const lock of locks) for (let i = 0; i < 60; i++) deniedAttempt(lock, n++);
    // The bridge has answered every PUBACK: the reports are in its outbox. The locks keep every event all the same:
    // only a signed ack frees one (docs/design.md section 7), and no cloud signs one now.
    for (const lock of locks) await lock.waitForDelivered({ timeoutMs: 30_000 });
    expect(bridge.outbox().items).toBeGreaterThanOrEqual(120);
    for (const lock of locks) expect(lock.unacknowledged).toBeGreaterThanOrEqual(60);
    await until("the bridge noticed the cloud is gone", () =>
      String((bridge.health().upload as { lastError: string | null }).lastError ?? "").includes("reports"),
    );

    await site.startCloudAgain();
    await expectEachDeniedEventOnce(site, locks);
    await until("outbox drained", () => bridge.outbox().items === 0);
    // The cloud's signed ack reaches the locks (the bridge fetches their states again): only now are they freed.
    for (const lock of locks) await acknowledged(lock, lastDenied(lock));
    for (const lock of locks) expect(lock.unacknowledged).toBeLessThan(60);
  });

  it("bridge killed with SIGKILL mid-upload and restarted: nothing lost, nothing doubled", async () => {
    if (!existsSync(fileURLToPath(new URL("../../bridge/dist/src/cli/main.js", import.meta.url))))
      throw new Error("the bridge is not built: run `npx tsc -b test` (or `npm test`) first");
    site = await createSite();

    // Between bridge and cloud: a proxy that, when told, lets one batch of reports with accepted items reach the cloud
    // but never answers the bridge.
    let holdIngest = false;
    let held: { status: number; body: string } | null = null;
    proxy = createServer((req, res) => {
      const target = new URL(req.url ?? "/", site!.cloud.url);
      const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (c: Buffer) => chunks.push(c));
        answer.on("end", () => {
          const body = Buffer.concat(chunks);
          if (holdIngest && req.url === "/bridge/v1/reports" && acceptedReports(body) > 0) {
            holdIngest = false;
            held = { status: answer.statusCode ?? 0, body: body.toString() };
            return; // the bridge never hears that the cloud stored the batch
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers).end(body);
        });
      });
      upstream.on("error", () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy!.listen(0, "127.0.0.1", r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const mqttPort = await freePort();
    const metricsPort = await freePort();
    const configFile = join(site.dir, "bridge.yaml");
    const config = site.bridgeConfig({
      cloud: { url: proxyUrl, bridgeId: site.bridgeId, secret: site.bridgeSecret, requestTimeoutSeconds: 60 },
      mqtt: { siteSecret: SITE_SECRET, port: mqttPort },
      metrics: { port: metricsPort },
      log: { level: "info" },
    });
    writeFileSync(configFile, stringify(config));
    const spawnBridge = () => {
      const proc = spawn(process.execPath, [BRIDGE_BIN, "--config", configFile], {
        stdio: ["ignore", "ignore", "inherit"],
      });
      child = proc;
      return proc;
    };
    const healthy = () =>
      until("bridge healthy", async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).ok);

    spawnBridge();
    await healthy();
    const mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
    const locks = [await site.startLock("lock-1", { mqttUrl }), await site.startLock("lock-2", { mqttUrl })];
    await until("locks in the cloud", async () => (await cloudLocks(site!)).length === 2);
    for (const lock of locks) await ready(lock);

    holdIngest = true;
    let n = 0;
    for (const lock of locks) for (let i = 0; i < 30; i++) deniedAttempt(lock, n++);
    await until("a batch stored by the cloud but unanswered", () => held);
    expect(held!.status).toBe(200);
    const killed = new Promise((r) => child!.once("exit", r));
    child!.kill("SIGKILL");
    await killed;
    // While the bridge is dead the locks keep working; their events wait in their own flash.
    for (const lock of locks) for (let i = 0; i < 10; i++) deniedAttempt(lock, n++);

    spawnBridge();
    await healthy();
    await expectEachDeniedEventOnce(site, locks);
    // The batch in flight at the kill went up again and was answered as duplicates: nothing stored twice.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/latchkey_bridge_upload_duplicates_total\{kind="event"\} [1-9]/);

    const exited = new Promise<number | null>((r) => child!.once("exit", (code) => r(code)));
    child!.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});

/** How many items of a `POST /bridge/v1/reports` answer the cloud accepted (docs/bridge-api.md). */
function acceptedReports(body: Buffer): number {
  try {
    return (JSON.parse(body.toString()) as { counts?: { ok?: number } }).counts?.ok ?? 0;
  } catch {
    return 0;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createTcpServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
