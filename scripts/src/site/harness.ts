import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BridgeConfigInit, type BridgeOptions, type RunningBridge, startBridge } from "@latchkey/bridge";
import { type CloudOptions, type RunningCloud, startCloud } from "@latchkey/cloud";
import { type LockOptions, type SimLock, startLock } from "@latchkey/lock-sim";
import { stringify } from "yaml";
import { IntegratorClient } from "../client/integrator-client.js";
import { type BridgeProcess, startBridgeProcess } from "../stack/bridge-process.js";
import {
  bootstrapIntegrator,
  type CloudCredentials,
  type CloudProcess,
  childEnv,
  startCloudProcess,
} from "../stack/cloud-process.js";
import { bins } from "../stack/paths.js";
import { registerSite, type SiteRegistration, type VendorAccount } from "./provision.js";
import { mergeSettings, type Settings } from "./settings.js";

/** How the site runs its cloud: in this process (its clock, log and store within reach) or as `latchkey-cloud serve`. */
export type CloudMode =
  | {
      kind: "in-process";
      /** startCloud's options for run `run` (1 for the first start) beyond the data directory and port. */
      options?: (run: number) => Partial<CloudOptions>;
    }
  | {
      kind: "process";
      /** The child's environment (DATABASE_URL for PostgreSQL); default: this process's, as `childEnv` passes it. */
      env?: NodeJS.ProcessEnv;
      allowPrivateWebhooks?: boolean;
      devOtpLog?: boolean;
      /** Node flags of the child (a bin's shebang flags, `--cpu-prof`). */
      nodeArgs?: string[];
    };

export interface SiteHarnessOptions {
  /** Where the site keeps its data: the cloud's in `cloud/`, the bridge's in `bridge/`. Made if missing. */
  dir: string;
  cloud: CloudMode;
  /** Ports kept across restarts, so a lock finds its bridge again and the bridge its cloud; 0 = any free port. */
  ports?: { api?: number; mqtt?: number; metrics?: number };
  siteSecret: string;
  /** The account the bridge serves the site's vendor connection with. */
  vendor: VendorAccount;
  /** The password the connection is created with (default the vendor's: a test of a wrong one gives another). */
  connectionPassword?: string;
  names?: { integrator?: string; lockHolder?: string; bridge?: string };
  /**
   * Claim each lock `startLock` starts with the setup code on its label, as an integrator would (docs/design.md
   * section 7): the cloud serves (state, time, reports) only claimed locks. Default true; false for a test of
   * unclaimed locks, which can still call `claim(lock)`.
   */
  claimLocks?: boolean;
  /** Told each lock this site claims, before its setup code goes to the cloud (the reliability suite's secrets). */
  onClaim?: (lock: SimLock) => void;
  /** What every lock of the site starts with (its data directory, broker, radio, random source…); `n` counts starts. */
  lockOptions?: (lockId: string, n: number) => Partial<LockOptions>;
  /** The bridge's settings over the harness's (timings, log level…), under each start's own. */
  bridgeSettings?: Settings;
  /** What an in-process bridge gets besides its settings (clock, log stream, random source). */
  bridgeOptions?: () => BridgeOptions;
}

/**
 * One whole site for the whole-stack tests and the benchmarks: the cloud (in process or as its bin), provisioned
 * through the typed Integrator API client like any integrator would; the bridge (in process or as its bin) from one
 * settings builder; simulated locks, each claimed with its setup code. Everything it starts, `close` stops.
 */
export class SiteHarness {
  readonly dir: string;
  readonly siteSecret: string;
  readonly vendor: VendorAccount;
  /** The in-process cloud, or the cloud process (one of them, by the cloud mode; null while stopped). */
  cloud: RunningCloud | null = null;
  cloudProcess: CloudProcess | null = null;
  /** The in-process bridge and the bridge process (a test may run either). */
  bridge: RunningBridge | null = null;
  bridgeProcess: BridgeProcess | null = null;
  readonly locks: SimLock[] = [];
  client!: IntegratorClient;
  credentials!: CloudCredentials;
  registration!: SiteRegistration;
  apiPort: number;
  readonly mqttPort: number;
  readonly metricsPort: number;
  private cloudRuns = 0;
  private lockStarts = 0;
  /** Setup codes (by lock id) not yet posted: a lock started while the cloud is down is claimed once it is back. */
  private readonly pendingClaims = new Map<string, string>();
  private cloudUp = false;
  private readonly bin = bins();

  private constructor(readonly options: SiteHarnessOptions) {
    this.dir = options.dir;
    this.siteSecret = options.siteSecret;
    this.vendor = options.vendor;
    this.apiPort = options.ports?.api ?? 0;
    this.mqttPort = options.ports?.mqtt ?? 0;
    this.metricsPort = options.ports?.metrics ?? 0;
  }

  /** The cloud started and the site registered in it. */
  static async start(options: SiteHarnessOptions): Promise<SiteHarness> {
    const site = new SiteHarness(options);
    try {
      await site.provision();
    } catch (e) {
      await site.close();
      throw e;
    }
    return site;
  }

  private async provision(): Promise<void> {
    const names = this.options.names ?? {};
    // The cloud keeps its master key in its data directory; with PostgreSQL nothing else makes that directory.
    mkdirSync(this.cloudDir, { recursive: true, mode: 0o700 });
    if (this.options.cloud.kind === "process") {
      this.credentials = await bootstrapIntegrator(this.bin.cloud, this.cloudDir, this.cloudEnv, names.integrator);
      await this.startCloud();
    } else {
      const cloud = await this.startCloud();
      this.credentials = await (cloud as RunningCloud).bootstrap(names.integrator);
    }
    this.client = await IntegratorClient.login(this.apiUrl, this.credentials);
    this.registration = await registerSite(this.client, {
      lockHolder: { name: names.lockHolder ?? "Site homes", countryIso: "NO" },
      ...(names.bridge !== undefined ? { bridgeName: names.bridge } : {}),
      vendor: this.vendor,
      ...(this.options.connectionPassword !== undefined ? { connectionPassword: this.options.connectionPassword } : {}),
    });
    await this.postPendingClaims();
  }

  get lockHolderId(): string {
    return this.registration?.lockHolderId ?? "";
  }

  get bridgeId(): string {
    return this.registration?.bridgeId ?? "";
  }

  get bridgeSecret(): string {
    return this.registration?.bridgeSecret ?? "";
  }

  /** The secret the bridge's next start logs in with (after a rotation, as an operator moves it). */
  set bridgeSecret(secret: string) {
    this.registration.bridgeSecret = secret;
  }

  get vendorConnectionId(): string {
    return this.registration?.vendorConnectionId ?? "";
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  get cloudDir(): string {
    return join(this.dir, "cloud");
  }

  private get cloudEnv(): NodeJS.ProcessEnv {
    const mode = this.options.cloud;
    return mode.kind === "process" && mode.env ? mode.env : childEnv(process.env);
  }

  /** The cloud on the site's port and data (again, after stopCloud); claims made meanwhile are posted. */
  async startCloud(): Promise<RunningCloud | CloudProcess> {
    const mode = this.options.cloud;
    let started: RunningCloud | CloudProcess;
    if (mode.kind === "in-process") {
      const cloud = await startCloud({
        dataDir: this.cloudDir,
        port: this.apiPort,
        ...mode.options?.(++this.cloudRuns),
      });
      this.cloud = cloud;
      started = cloud;
      this.apiPort = cloud.port;
    } else {
      const cloud = await startCloudProcess({
        bin: this.bin.cloud,
        dataDir: this.cloudDir,
        port: this.apiPort,
        env: this.cloudEnv,
        ...(mode.allowPrivateWebhooks ? { allowPrivateWebhooks: true } : {}),
        ...(mode.devOtpLog ? { devOtpLog: true } : {}),
        ...(mode.nodeArgs ? { nodeArgs: mode.nodeArgs } : {}),
      });
      this.cloudProcess = cloud;
      started = cloud;
      this.apiPort = cloud.port;
    }
    this.cloudUp = true;
    await this.postPendingClaims();
    return started;
  }

  /**
   * Stops the cloud: the process with `signal` (its exit code answered), the in-process one without waiting out idle
   * keep-alive connections of this process's fetch clients (fastify's close otherwise lingers for 72 s).
   */
  async stopCloud(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    this.cloudUp = false;
    const cloud = this.cloud;
    const child = this.cloudProcess;
    this.cloud = null;
    this.cloudProcess = null;
    if (cloud) {
      const closing = cloud.close();
      cloud.app.server.closeAllConnections();
      await closing;
    }
    return child ? (await child.child.stop(signal)).code : null;
  }

  /** The bridge's settings (bridge/src/config/schema.ts) for this site, `extra` merged in (objects deeply). */
  bridgeSettings(extra: Settings = {}): BridgeConfigInit {
    const base: Settings = {
      cloud: { url: this.apiUrl, bridgeId: this.bridgeId, secret: this.bridgeSecret },
      dataDir: join(this.dir, "bridge"),
      mqtt: { siteSecret: this.siteSecret, port: this.mqttPort },
      metrics: { port: this.metricsPort },
      vendorAccounts: [this.vendor],
      log: { level: "info" },
    };
    return mergeSettings(mergeSettings(base, this.options.bridgeSettings ?? {}), extra) as BridgeConfigInit;
  }

  /** The bridge in this process (simulated time through `bridgeOptions`). */
  async startBridge(extra: Settings = {}, options: BridgeOptions = {}): Promise<RunningBridge> {
    this.bridge = await startBridge(this.bridgeSettings(extra), { ...this.options.bridgeOptions?.(), ...options });
    return this.bridge;
  }

  async stopBridge(): Promise<void> {
    const bridge = this.bridge;
    this.bridge = null;
    await bridge?.stop();
  }

  /** `latchkey-bridge --config <dir>/bridge.yaml` (mode 0600: it holds the bridge and site secrets). */
  async startBridgeProcess(extra: Settings = {}, options: { nodeArgs?: string[] } = {}): Promise<BridgeProcess> {
    const file = join(this.dir, "bridge.yaml");
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(file, stringify(this.bridgeSettings(extra)), { mode: 0o600 });
    this.bridgeProcess = await startBridgeProcess(this.bin.bridge, file, childEnv(process.env), options);
    return this.bridgeProcess;
  }

  async stopBridgeProcess(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const bridge = this.bridgeProcess;
    this.bridgeProcess = null;
    return bridge ? (await bridge.child.stop(signal)).code : null;
  }

  /** SIGKILL: the bridge gets no chance to finish anything. */
  async killBridgeProcess(): Promise<void> {
    const bridge = this.bridgeProcess;
    this.bridgeProcess = null;
    await bridge?.child.kill();
  }

  /** A simulated lock of this site, claimed unless `claimLocks` is false. */
  async startLock(lockId: string, extra: Partial<LockOptions> = {}): Promise<SimLock> {
    const lock = await startLock({
      lockId,
      dataDir: join(this.dir, "locks"),
      siteSecret: this.siteSecret,
      telemetryIntervalSeconds: 0,
      ...this.options.lockOptions?.(lockId, ++this.lockStarts),
      ...extra,
    });
    this.locks.push(lock);
    if (this.options.claimLocks ?? true) await this.claim(lock);
    return lock;
  }

  /**
   * Claims `lock` for the site's lock holder with the setup code on its label, through the Integrator API (never the
   * bridge). Again after a restart or a factory reset it answers 200. With the cloud down it is posted at its restart.
   */
  async claim(lock: SimLock): Promise<void> {
    this.options.onClaim?.(lock);
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

  private closing: Promise<void> | null = null;

  /** Stops the locks, then the bridge, then the cloud; once, however often it is called. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const lock of this.locks) await lock.stop().catch(() => {});
      await this.stopBridge().catch(() => {});
      await this.stopBridgeProcess().catch(() => {});
      await this.stopCloud().catch(() => {});
    })();
    return this.closing;
  }
}
