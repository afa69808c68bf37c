import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newSiteSecret } from "@latchkey/bridge";
import { stringify } from "yaml";
import { IntegratorClient } from "../src/client/integrator-client.js";
import { bridgeConfig } from "../src/stack/bridge-process.js";
import { ManagedChild } from "../src/stack/child.js";
import { bootstrapIntegrator, type CloudCredentials, childEnv } from "../src/stack/cloud-process.js";
import { bins } from "../src/stack/paths.js";
import type { Cleanup } from "./cleanup.js";

/**
 * The real processes a site runs, as the bench measures them: the cloud (`latchkey-cloud serve`, SQLite) and the
 * bridge (`latchkey-bridge`) as child processes of their own, so the bench's lock clients never share their event loop.
 */
export interface BenchCloud {
  url: string;
  port: number;
  dataDir: string;
  /** The cloud's SQLite file: the bench counts stored events there. */
  dbPath: string;
  credentials: CloudCredentials;
  child: ManagedChild;
  /** SIGTERM and wait (graceful, as an operator stops it). */
  stop(): Promise<void>;
  /** `serve` again on the same data directory and port. */
  start(): Promise<void>;
}

export function tempDir(cleanup: Cleanup, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-bench-${name}-`));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The Node flags a bin's shebang gives it (`#!/usr/bin/env -S node --flag`): what `npx <bin>` runs it with. */
export function shebangFlags(script: string): string[] {
  const first = readFileSync(script, "utf8").split("\n", 1)[0] ?? "";
  const match = /^#!\S*env\s+(?:-S\s+)?node\s*(.*)$/.exec(first);
  return match?.[1] ? match[1].trim().split(/\s+/) : [];
}

/**
 * A bin of ours as a child process, with the Node flags of its shebang; with `profileDir` also under
 * `node --cpu-prof` (the profile is written when it exits).
 */
function spawnBin(name: string, script: string, args: string[], profileDir: string | undefined): ManagedChild {
  const profile = profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [];
  return new ManagedChild({
    name,
    command: process.execPath,
    args: [...shebangFlags(script), ...profile, script, ...args],
    env: childEnv(process.env),
  });
}

export async function startBenchCloud(
  cleanup: Cleanup,
  dir: string,
  options: { profileDir?: string } = {},
): Promise<BenchCloud> {
  const bin = bins().cloud;
  const dataDir = join(dir, "cloud");
  mkdirSync(dataDir, { recursive: true });
  const credentials = await bootstrapIntegrator(bin, dataDir, childEnv(process.env), "bench");
  const serve = async (port: number) => {
    const child = spawnBin(
      "cloud",
      bin,
      ["serve", "--port", String(port), "--data", dataDir, "--dev-otp-log"],
      options.profileDir,
    );
    try {
      const record = await child.waitForLog("latchkey cloud listening", (r) => typeof r.url === "string", {
        timeoutMs: 60_000,
      });
      return { child, url: String(record.url) };
    } catch (e) {
      await child.kill();
      throw e;
    }
  };
  const first = await serve(0);
  const port = Number(new URL(first.url).port);
  const cloud: BenchCloud = {
    url: first.url,
    port,
    dataDir,
    dbPath: join(dataDir, "cloud.sqlite"),
    credentials,
    child: first.child,
    async stop() {
      await cloud.child.stop();
    },
    async start() {
      cloud.child = (await serve(port)).child;
    },
  };
  cleanup.add(() => cloud.child.stop());
  return cloud;
}

export interface BenchSite {
  client: IntegratorClient;
  lockHolderId: string;
  bridgeId: string;
  bridgeSecret: string;
  vendorConnectionId: string;
  vendor: { username: string; password: string };
}

/** A lock holder, a registered bridge and a `sim` vendor connection it serves, through the Integrator API. */
export async function createBenchSite(cloud: BenchCloud, name: string): Promise<BenchSite> {
  const client = await IntegratorClient.login(cloud.url, cloud.credentials);
  const lh = await client.createLockHolder({ name, countryIso: "NO" });
  const bridge = await client.registerBridge(lh.id, `${name} gateway`);
  const vendor = { username: `${name}-account`, password: `${name}-vendor-password` };
  const vc = await client.createVendorConnection(lh.id, { vendor: "sim", ...vendor, bridgeId: bridge.bridgeId });
  return {
    client,
    lockHolderId: lh.id,
    bridgeId: bridge.bridgeId,
    bridgeSecret: bridge.secret,
    vendorConnectionId: vc.id,
    vendor,
  };
}

export interface BridgeHealth {
  ok: boolean;
  feed: { caughtUp: boolean };
  outbox: { items: number; bytes: number };
  locks: { known: number; online: number };
  upload: { lastSuccessAt: number | null; lastError: string | null; failures: number };
}

export interface BenchBridge {
  mqttUrl: string;
  metricsUrl: string;
  siteSecret: string;
  child: ManagedChild;
  /** /healthz (also while it answers 503), or null when nothing answers. */
  health(): Promise<BridgeHealth | null>;
  stop(): Promise<void>;
}

/**
 * `latchkey-bridge --config` with the embedded broker on a free port. `accounts` adds MQTT logins (role
 * `homeassistant`) for the round-trip baseline; everything else is the bridge's default.
 */
export async function startBenchBridge(
  cleanup: Cleanup,
  dir: string,
  cloud: BenchCloud,
  site: BenchSite,
  options: {
    accounts?: Array<{ username: string; password: string }>;
    profileDir?: string;
    /** Settings sections merged over the defaults, e.g. `{outbox: {synchronous: "normal"}}`. */
    settings?: Record<string, Record<string, unknown>>;
  } = {},
): Promise<BenchBridge> {
  const siteSecret = newSiteSecret();
  const config = bridgeConfig({
    cloudUrl: cloud.url,
    bridgeId: site.bridgeId,
    bridgeSecret: site.bridgeSecret,
    siteSecret,
    dataDir: join(dir, "bridge"),
    vendor: site.vendor,
    mqttPort: 0,
    metricsPort: 0,
    logLevel: "info",
  });
  for (const [section, values] of Object.entries(options.settings ?? {}))
    config[section] = { ...(config[section] as Record<string, unknown> | undefined), ...values };
  if (options.accounts)
    (config.mqtt as Record<string, unknown>).accounts = options.accounts.map((a) => ({ ...a, role: "homeassistant" }));
  const file = join(dir, "bridge.yaml");
  writeFileSync(file, stringify(config), { mode: 0o600 });
  const child = spawnBin("bridge", bins().bridge, ["--config", file], options.profileDir);
  cleanup.add(() => child.stop());
  const started = await child.waitForLog("bridge started", (r) => typeof r.mqttUrl === "string", {
    timeoutMs: 60_000,
  });
  const metricsUrl = String(started.metricsUrl);
  return {
    mqttUrl: String(started.mqttUrl),
    metricsUrl,
    siteSecret,
    child,
    async health() {
      const res = await fetch(`${metricsUrl}/healthz`).catch(() => null);
      return res ? ((await res.json()) as BridgeHealth) : null;
    },
    async stop() {
      await child.stop();
    },
  };
}
