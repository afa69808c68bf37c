import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newSiteSecret } from "@latchkey/bridge";
import type { BenchSite } from "@latchkey/bridge/bench";
import { mergeSettings, SiteHarness } from "../src/site/index.js";
import type { ManagedChild } from "../src/stack/child.js";
import { bins } from "../src/stack/paths.js";
import type { Cleanup } from "./cleanup.js";

/**
 * The real processes a site runs, as the bench measures them: the site harness in its process modes, the cloud
 * (`latchkey-cloud serve`, SQLite) and the bridge (`latchkey-bridge`) as child processes of their own with their
 * bins' Node flags, so the bench's lock clients never share their event loop.
 */
export interface BenchCloud {
  readonly url: string;
  /** The cloud's SQLite file: the bench counts stored events there. */
  readonly dbPath: string;
  readonly child: ManagedChild;
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

/** The Node flags of a bin as the bench runs it: its shebang's, and with `profileDir` `--cpu-prof` into that folder. */
function nodeArgs(script: string, profileDir: string | undefined): string[] {
  return [...shebangFlags(script), ...(profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [])];
}

/**
 * A site for a suite: the cloud process on a fresh data directory in `dir`, with a lock holder `name`, a registered
 * bridge and a `sim` vendor connection it serves (through the typed Integrator API client). `cleanup` stops it all.
 */
export async function startBenchSite(
  cleanup: Cleanup,
  dir: string,
  name: string,
  options: { profileDir?: string } = {},
): Promise<{ site: SiteHarness; cloud: BenchCloud }> {
  const site = await SiteHarness.start({
    dir,
    cloud: { kind: "process", devOtpLog: true, nodeArgs: nodeArgs(bins().cloud, options.profileDir) },
    siteSecret: newSiteSecret(),
    vendor: { vendor: "sim", username: `${name}-account`, password: `${name}-vendor-password` },
    names: { integrator: "bench", lockHolder: name, bridge: `${name} gateway` },
  });
  cleanup.add(() => site.close());
  const cloud: BenchCloud = {
    get url() {
      return site.apiUrl;
    },
    dbPath: join(site.cloudDir, "cloud.sqlite"),
    get child() {
      if (!site.cloudProcess) throw new Error("the bench cloud is stopped");
      return site.cloudProcess.child;
    },
    async stop() {
      await site.stopCloud();
    },
    async start() {
      await site.startCloud();
    },
  };
  return { site, cloud };
}

/** `site` as the bridge's own benchmarks take it (`@latchkey/bridge/bench`: a bridge of theirs serves it). */
export function bridgeBenchSite(site: SiteHarness): BenchSite {
  return {
    cloudUrl: site.apiUrl,
    bridgeId: site.bridgeId,
    bridgeSecret: site.bridgeSecret,
    vendor: { vendor: "sim", username: site.vendor.username, password: site.vendor.password },
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
 * `latchkey-bridge --config` of `site` with the embedded broker on a free port. `accounts` adds MQTT logins (role
 * `homeassistant`) for the round-trip baseline; everything else is the bridge's default.
 */
export async function startBenchBridge(
  site: SiteHarness,
  options: {
    accounts?: Array<{ username: string; password: string }>;
    profileDir?: string;
    /** Settings sections merged over the defaults, e.g. `{outbox: {synchronous: "normal"}}`. */
    settings?: Record<string, Record<string, unknown>>;
  } = {},
): Promise<BenchBridge> {
  const accounts = options.accounts?.map((a) => ({ ...a, role: "homeassistant" }));
  const started = await site.startBridgeProcess(
    mergeSettings(options.settings ?? {}, accounts ? { mqtt: { accounts } } : {}),
    { nodeArgs: nodeArgs(bins().bridge, options.profileDir) },
  );
  const metricsUrl = String(started.metricsUrl);
  return {
    mqttUrl: started.mqttUrl,
    metricsUrl,
    siteSecret: site.siteSecret,
    child: started.child,
    async health() {
      const res = await fetch(`${metricsUrl}/healthz`).catch(() => null);
      return res ? ((await res.json()) as BridgeHealth) : null;
    },
    async stop() {
      await site.stopBridgeProcess();
    },
  };
}
