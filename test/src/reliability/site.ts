import { join } from "node:path";
import type { BridgeConfigInit, BridgeOptions, RunningBridge } from "@latchkey/bridge";
import type { CloudOptions, RunningCloud } from "@latchkey/cloud";
import { type SimLock, seededRandom } from "@latchkey/lock-sim";
import type { Clock } from "@latchkey/protocol";
import { type BridgeProcess, freePort, ManagedChild } from "@latchkey/scripts";
import { QUICK_CLOUD_TIMINGS, type Settings, SiteHarness } from "@latchkey/scripts/site";
import Database from "better-sqlite3";
import { pino } from "pino";
import { HarnessSite } from "../harness-site.js";
import { checkedExchange } from "../openapi-contract.js";
import type { Resources } from "../resources.js";
import type { LogSink, Secrets } from "./evidence.js";
import { seededFraction } from "./random.js";

export const RELIABILITY_VENDOR = { vendor: "sim" as const, username: "reliability-site", password: "vendor-pw-0123" };
const MASTER_KEY = new Uint8Array(32).fill(7);

export interface ReliabilitySiteOptions {
  /** Injected into the cloud (and an in-process bridge): simulated time. */
  clock?: Clock;
  cloud?: Partial<CloudOptions>;
  /** Seeds every random source of the site. */
  seed?: string;
  /**
   * Claim each lock `startLock` starts with its setup code through the Integrator API, as an integrator would
   * (docs/design.md section 7, "Identity and claim"). Default true: the cloud serves (state, time, reports) only
   * claimed locks. False for a test of unclaimed locks (it can still call `claim(lock)`).
   */
  claimLocks?: boolean;
}

/**
 * A site for fault and abuse tests: the real cloud in this process (its log, clock and SQLite file within reach), the
 * bridge as its `latchkey-bridge` process (to be killed) or in process (to get simulated time), simulated locks. Ports
 * stay the same across restarts. Every log goes to `logs`, every secret made is registered in `secrets`. The site
 * itself is the one harness of `@latchkey/scripts/site`; this adds the evidence and the fault levers.
 */
export class ReliabilitySite extends HarnessSite {
  private constructor(
    private readonly resources: Resources,
    harness: SiteHarness,
    readonly logs: LogSink,
    readonly secrets: Secrets,
  ) {
    super(harness);
  }

  static async start(
    resources: Resources,
    logs: LogSink,
    secrets: Secrets,
    options: ReliabilitySiteOptions = {},
  ): Promise<ReliabilitySite> {
    const dir = resources.tempDir("latchkey-reliability-");
    const seed = options.seed ?? "reliability";
    const siteSecret = `site-secret-${seed}-0123456789`;
    secrets.add("mqtt.siteSecret", siteSecret);
    const clock = options.clock ? { clock: options.clock } : {};
    const mqttPort = await freePort();
    const harness = await SiteHarness.start({
      dir,
      ports: { api: await freePort(), mqtt: mqttPort, metrics: await freePort() },
      siteSecret,
      vendor: RELIABILITY_VENDOR,
      names: { integrator: "Reliability integrator", lockHolder: "Reliability homes", bridge: "reliability gateway" },
      // The code holds the claim secret: registered as a secret, so no log may show it.
      onClaim: (lock) => secrets.add(`setup code ${lock.id}`, lock.setupCode),
      ...(options.claimLocks !== undefined ? { claimLocks: options.claimLocks } : {}),
      // Always SQLite: tests read its file.
      cloud: {
        kind: "in-process",
        options: (run) => ({
          logLevel: "info",
          logStream: logs.stream("cloud"),
          masterKey: MASTER_KEY,
          // A new seed per run: ids made by a restarted cloud must not repeat those of the run before.
          random: seededRandom(`${seed}-cloud-${run}`),
          workerPollMs: 50,
          ...clock,
          ...options.cloud,
          // Webhook receivers of these tests listen on 127.0.0.1, which only this setting lets the cloud reach.
          settings: { allowPrivateWebhookTargets: true, ...options.cloud?.settings },
        }),
      },
      bridgeSettings: QUICK_CLOUD_TIMINGS,
      bridgeOptions: () => ({
        ...clock,
        logStream: logs.stream("bridge"),
        random: seededFraction(`${seed}-bridge`),
        cloudExchange: checkedExchange,
      }),
      lockOptions: (lockId, n) => ({
        mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
        random: seededRandom(`${seed}-lock-${lockId}-${n}`),
        mqtt: { reconnectPeriodMs: 100, reconnectMaxMs: 1000 },
        logger: pino({ level: "info" }, logs.stream(`lock ${lockId}`)),
        ...clock,
      }),
    });
    const site = new ReliabilitySite(resources, harness, logs, secrets);
    resources.defer("stop the reliability site", () => site.close());
    secrets.add("integrator client secret", harness.credentials.clientSecret);
    secrets.add("integrator access token", harness.client.accessToken);
    secrets.add("bridge secret", harness.bridgeSecret);
    secrets.add("vendor password", RELIABILITY_VENDOR.password);
    return site;
  }

  get cloud(): RunningCloud {
    if (!this.harness.cloud) throw new Error("the cloud is stopped");
    return this.harness.cloud;
  }

  get bridgeProcess(): BridgeProcess | null {
    return this.harness.bridgeProcess;
  }

  get bridge(): RunningBridge | null {
    return this.harness.bridge;
  }

  get mqttUrl(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.metricsPort}`;
  }

  get cloudDbPath(): string {
    return join(this.dir, "cloud", "cloud.sqlite");
  }

  get bridgeDbPath(): string {
    return join(this.dir, "bridge", "bridge.db");
  }

  /** The in-process cloud on the site's port, its data kept across restarts. */
  async startCloud(): Promise<RunningCloud> {
    await this.harness.startCloud();
    return this.cloud;
  }

  /** Closes the cloud without waiting out idle keep-alive sockets of this process's fetch clients. */
  async stopCloud(): Promise<void> {
    await this.harness.stopCloud();
  }

  /** The bridge's settings: short waits and backoffs for tests, `extra` merged in (objects deeply). */
  bridgeSettings(extra: Settings = {}): BridgeConfigInit {
    return this.harness.bridgeSettings(extra);
  }

  /** `latchkey-bridge --config …` (build first: `npx tsc -b test`); its output goes to the log sink. */
  async startBridgeProcess(extra: Settings = {}): Promise<BridgeProcess> {
    const started = await this.harness.startBridgeProcess(extra);
    this.logs.attach("bridge", started.child);
    return started;
  }

  /**
   * Sets the running bridge process's file size limit (`prlimit --fsize`, the soft limit only, so it can be lifted
   * again with "unlimited"): no file it writes may then grow past `bytes`, as on a full disk. Node ignores SIGXFSZ,
   * so writes fail (EFBIG) instead of killing the process.
   */
  async limitBridgeFileSize(bytes: number | "unlimited"): Promise<void> {
    const pid = this.bridgeProcess?.child.pid;
    if (pid === undefined) throw new Error("no bridge process");
    const child = new ManagedChild({
      name: "prlimit",
      command: "prlimit",
      args: ["--pid", String(pid), bytes === "unlimited" ? "--fsize=unlimited" : `--fsize=${bytes}:unlimited`],
    });
    const { code } = await child.waitForExit();
    if (code !== 0) throw new Error(`prlimit failed: ${child.tail().join(" ")}`);
  }

  /** SIGKILL: the bridge gets no chance to finish anything. */
  async killBridgeProcess(): Promise<void> {
    await this.harness.killBridgeProcess();
  }

  async stopBridgeProcess(): Promise<number | null> {
    return this.harness.stopBridgeProcess();
  }

  /** The bridge in this process (simulated time through `options.clock`). */
  async startBridge(extra: Settings = {}, options: BridgeOptions = {}): Promise<RunningBridge> {
    return this.harness.startBridge(extra, options);
  }

  async stopBridge(): Promise<void> {
    await this.harness.stopBridge();
  }

  /**
   * Waits until `lock` runs a signed state of its lock holder's authority and a signed time answer bounds its clock
   * (docs/trust.md "Lock"): from then on it seals its events as reports and can open with a key.
   */
  async waitForTrust(lock: SimLock, options: { timeoutMs?: number } = {}): Promise<void> {
    await lock.waitFor((l) => l.stateV > 0 && l.clockSet, `lock ${lock.id} to run a signed state and signed time`, {
      timeoutMs: options.timeoutMs ?? 60_000,
    });
  }

  /**
   * Waits until the signed state `lock` runs acknowledges every event up to `seq` (default: its newest event that is
   * not a `state_applied`; that one is freed only with the next state the lock gets for another reason, docs/mqtt.md):
   * the cloud stored them from the lock's reports and the lock has freed them from its ring.
   */
  async waitForAcknowledged(lock: SimLock, seq?: number, options: { timeoutMs?: number } = {}): Promise<void> {
    const through = seq ?? lastAcknowledgeable(lock);
    await lock.waitFor(
      (l) => (l.signedState?.ack ?? 0) >= through,
      `lock ${lock.id}'s signed state to acknowledge its events through seq ${through}`,
      { timeoutMs: options.timeoutMs ?? 60_000 },
    );
  }

  /** The cloud's SQLite database, read-only (WAL: reading while the cloud writes is fine). */
  cloudDb(): Database.Database {
    const db = new Database(this.cloudDbPath, { readonly: true, fileMustExist: true });
    this.resources.defer("close the cloud database reader", () => db.close());
    return db;
  }

  /** Kills a bridge process (no graceful wait at teardown), then stops the rest. */
  async close(): Promise<void> {
    await this.harness.killBridgeProcess().catch(() => {});
    await this.harness.close();
  }
}

/** The seq of the newest event of `lock` that a signed state will acknowledge without any other change (0: none). */
function lastAcknowledgeable(lock: SimLock): number {
  return lock.events.findLast((e) => e.type !== "state_applied")?.seq ?? 0;
}
