import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BridgeConfigInit, type BridgeOptions, type RunningBridge, startBridge } from "@latchkey/bridge";
import { type CloudOptions, type RunningCloud, startCloud } from "@latchkey/cloud";
import { type LockOptions, type SimLock, seededRandom, startLock } from "@latchkey/lock-sim";
import type { Clock } from "@latchkey/protocol";
import {
  type BridgeProcess,
  bins,
  childEnv,
  freePort,
  IntegratorClient,
  ManagedChild,
  startBridgeProcess,
} from "@latchkey/scripts";
import Database from "better-sqlite3";
import { pino } from "pino";
import { stringify } from "yaml";
import type { Resources } from "../resources.js";
import type { LogSink, Secrets } from "./evidence.js";
import { seededFraction } from "./random.js";

export const RELIABILITY_VENDOR = { vendor: "sim" as const, username: "reliability-site", password: "vendor-pw-0123" };
const MASTER_KEY = new Uint8Array(32).fill(7);

type Settings = Record<string, unknown>;

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
 * stay the same across restarts. Every log goes to `logs`, every secret made is registered in `secrets`.
 */
export class ReliabilitySite {
  cloud!: RunningCloud;
  client!: IntegratorClient;
  lockHolderId = "";
  bridgeId = "";
  bridgeSecret = "";
  vendorConnectionId = "";
  readonly siteSecret: string;
  bridgeProcess: BridgeProcess | null = null;
  bridge: RunningBridge | null = null;
  readonly locks: SimLock[] = [];
  private cloudRuns = 0;
  private lockSeed = 0;
  private readonly seed: string;
  /** The in-process cloud is serving (false between stopCloud and startCloud). */
  private cloudUp = false;
  /** Setup codes (by lock id) not yet posted: a lock started while the cloud is down is claimed once it is back. */
  private readonly pendingClaims = new Map<string, string>();

  private constructor(
    private readonly resources: Resources,
    readonly dir: string,
    readonly logs: LogSink,
    readonly secrets: Secrets,
    readonly apiPort: number,
    readonly mqttPort: number,
    readonly metricsPort: number,
    private readonly options: ReliabilitySiteOptions,
  ) {
    this.seed = options.seed ?? "reliability";
    this.siteSecret = `site-secret-${this.seed}-0123456789`;
    secrets.add("mqtt.siteSecret", this.siteSecret);
  }

  static async start(
    resources: Resources,
    logs: LogSink,
    secrets: Secrets,
    options: ReliabilitySiteOptions = {},
  ): Promise<ReliabilitySite> {
    const dir = resources.tempDir("latchkey-reliability-");
    const site = new ReliabilitySite(
      resources,
      dir,
      logs,
      secrets,
      await freePort(),
      await freePort(),
      await freePort(),
      options,
    );
    resources.defer("stop the reliability site", () => site.close());
    await site.startCloud();
    const creds = await site.cloud.bootstrap("Reliability integrator");
    secrets.add("integrator client secret", creds.clientSecret);
    site.client = await IntegratorClient.login(site.cloud.url, creds);
    secrets.add("integrator access token", site.client.accessToken);
    const lh = await site.client.createLockHolder({ name: "Reliability homes", countryIso: "NO" });
    site.lockHolderId = lh.id;
    const bridge = await site.client.registerBridge(lh.id, "reliability gateway");
    site.bridgeId = bridge.bridgeId;
    site.bridgeSecret = bridge.secret;
    secrets.add("bridge secret", bridge.secret);
    const vc = await site.client.createVendorConnection(lh.id, { ...RELIABILITY_VENDOR, bridgeId: bridge.bridgeId });
    secrets.add("vendor password", RELIABILITY_VENDOR.password);
    site.vendorConnectionId = vc.id;
    return site;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
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

  /** The in-process cloud on the site's port, its data kept across restarts (always SQLite: tests read its file). */
  async startCloud(): Promise<RunningCloud> {
    this.cloud = await startCloud({
      dataDir: join(this.dir, "cloud"),
      port: this.apiPort,
      logLevel: "info",
      logStream: this.logs.stream("cloud"),
      masterKey: MASTER_KEY,
      // A new seed per run: ids made by a restarted cloud must not repeat those of the run before.
      random: seededRandom(`${this.seed}-cloud-${++this.cloudRuns}`),
      workerPollMs: 50,
      ...(this.options.clock ? { clock: this.options.clock } : {}),
      ...this.options.cloud,
      // Webhook receivers of these tests listen on 127.0.0.1, which only this setting lets the cloud reach.
      settings: { allowPrivateWebhookTargets: true, ...this.options.cloud?.settings },
    });
    this.cloudUp = true;
    await this.postPendingClaims();
    return this.cloud;
  }

  /** Closes the cloud without waiting out idle keep-alive sockets of this process's fetch clients. */
  async stopCloud(): Promise<void> {
    this.cloudUp = false;
    const closing = this.cloud.close();
    this.cloud.app.server.closeAllConnections();
    await closing;
  }

  /** The bridge's settings: short waits and backoffs for tests, `extra` merged in (objects deeply). */
  bridgeSettings(extra: Settings = {}): BridgeConfigInit {
    const base: Settings = {
      cloud: {
        url: this.apiUrl,
        bridgeId: this.bridgeId,
        secret: this.bridgeSecret,
        pollWaitSeconds: 5,
        backoffInitialMs: 50,
        backoffMaxMs: 500,
        requestTimeoutSeconds: 5,
      },
      dataDir: join(this.dir, "bridge"),
      mqtt: { siteSecret: this.siteSecret, broker: "embedded", host: "127.0.0.1", port: this.mqttPort },
      metrics: { host: "127.0.0.1", port: this.metricsPort },
      vendorAccounts: [RELIABILITY_VENDOR],
      log: { level: "info" },
    };
    return merge(base, extra) as BridgeConfigInit;
  }

  /** `latchkey-bridge --config …` (build first: `npx tsc -b test`); its output goes to the log sink. */
  async startBridgeProcess(extra: Settings = {}): Promise<BridgeProcess> {
    const file = join(this.dir, "bridge.yaml");
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(file, stringify(this.bridgeSettings(extra)), { mode: 0o600 });
    const started = await startBridgeProcess(bins().bridge, file, childEnv(process.env));
    this.logs.attach("bridge", started.child);
    this.bridgeProcess = started;
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
    const bridge = this.bridgeProcess;
    this.bridgeProcess = null;
    await bridge?.child.kill();
  }

  async stopBridgeProcess(): Promise<number | null> {
    const bridge = this.bridgeProcess;
    this.bridgeProcess = null;
    return bridge ? (await bridge.child.stop("SIGTERM")).code : null;
  }

  /** The bridge in this process (simulated time through `options.clock`). */
  async startBridge(extra: Settings = {}, options: BridgeOptions = {}): Promise<RunningBridge> {
    this.bridge = await startBridge(this.bridgeSettings(extra), {
      ...(this.options.clock ? { clock: this.options.clock } : {}),
      logStream: this.logs.stream("bridge"),
      random: seededFraction(`${this.seed}-bridge`),
      ...options,
    });
    return this.bridge;
  }

  async stopBridge(): Promise<void> {
    const bridge = this.bridge;
    this.bridge = null;
    await bridge?.stop();
  }

  /** A simulated lock of this site (flash in the site's directory, log to the sink). */
  async startLock(lockId: string, extra: Partial<LockOptions> = {}): Promise<SimLock> {
    const lock = await startLock({
      lockId,
      dataDir: join(this.dir, "locks"),
      mqttUrl: this.mqttUrl,
      siteSecret: this.siteSecret,
      random: seededRandom(`${this.seed}-lock-${lockId}-${++this.lockSeed}`),
      telemetryIntervalSeconds: 0,
      mqtt: { reconnectPeriodMs: 100 },
      logger: pino({ level: "info" }, this.logs.stream(`lock ${lockId}`)),
      ...(this.options.clock ? { clock: this.options.clock } : {}),
      ...extra,
    });
    this.locks.push(lock);
    if (this.options.claimLocks ?? true) await this.claim(lock);
    return lock;
  }

  /**
   * Claims `lock` for the site's lock holder with the setup code on its label, through the Integrator API (never the
   * bridge; docs/design.md section 7). Again after a restart it answers 200. With the cloud down it is posted at its
   * restart. The code holds the claim secret: registered as a secret, so no log may show it.
   */
  async claim(lock: SimLock): Promise<void> {
    this.secrets.add(`setup code ${lock.id}`, lock.setupCode);
    this.pendingClaims.set(lock.id, lock.setupCode);
    await this.postPendingClaims();
  }

  private async postPendingClaims(): Promise<void> {
    // Before provisioning (the first cloud start) there is no lock holder to claim for, and no lock yet.
    if (!this.cloudUp || this.lockHolderId === "") return;
    for (const [lockId, setupCode] of [...this.pendingClaims]) {
      await this.client.claimLock(this.lockHolderId, setupCode);
      this.pendingClaims.delete(lockId);
    }
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

  private closing: Promise<void> | null = null;

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const lock of this.locks) await lock.stop().catch(() => {});
      await this.bridge?.stop().catch(() => {});
      await this.bridgeProcess?.child.kill().catch(() => {});
      await this.stopCloud().catch(() => {});
    })();
    return this.closing;
  }
}

/** The seq of the newest event of `lock` that a signed state will acknowledge without any other change (0: none). */
function lastAcknowledgeable(lock: SimLock): number {
  return lock.events.findLast((e) => e.type !== "state_applied")?.seq ?? 0;
}

/** `extra` over `base`: plain objects merged key by key, anything else replaced. */
export function merge(base: Settings, extra: Settings): Settings {
  const out: Settings = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const prior = out[key];
    out[key] =
      isPlainObject(prior) && isPlainObject(value) ? merge(prior as Settings, value as Settings) : (value as unknown);
  }
  return out;
}

const isPlainObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);
