import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type LockOptions, Phone, type SimLock, seededRandom, startLock, VirtualRadio } from "@latchkey/lock-sim";
import {
  type BridgeProcess,
  bins,
  bootstrapIntegrator,
  type CloudCredentials,
  type CloudProcess,
  childEnv,
  freePort,
  IntegratorClient,
  oneTimeCode,
  pollUntil,
  startBridgeProcess,
  startCloudProcess,
  writeBridgeConfig,
} from "@latchkey/scripts";
import { cloudDatabaseEnv } from "./database.js";
import { cleanExternalBroker, type ExternalBrokerRun } from "./external-mqtt.js";
import type { Resources } from "./resources.js";

/** Where the bridge's locks meet it. */
export type BrokerMode =
  | { kind: "embedded" }
  /**
   * An external broker: on a shared one (MQTT_URL) the run has its own prefixes and is cleaned afterwards
   * (`clean`, default true); a private one (the ACL test's Mosquitto) needs no cleaning.
   */
  | { kind: "external"; run: ExternalBrokerRun; username?: string; password?: string; clean?: boolean };

export interface E2eSiteOptions {
  broker?: BrokerMode;
  /** Vendor password the connection is created with (the bridge always has the right one). */
  vendorPassword?: string;
  /** Extra environment of the cloud process (e.g. LATCHKEY_BATCH_CHUNK_KEYS). */
  cloudEnv?: NodeJS.ProcessEnv;
  /**
   * Claim each lock `startLock` starts with its setup code through the Integrator API, as an integrator would
   * (docs/design.md section 7). Default true, so the cloud's enforcement of claims finds every test's locks claimed;
   * false for a test of unclaimed locks (it can still call `claim(lock)`).
   */
  claimLocks?: boolean;
}

export const VENDOR = { username: "e2e-site", password: "e2e-vendor-password" };

/**
 * A whole site from real processes: the cloud (`latchkey-cloud`, its own data directory and port, PostgreSQL when
 * DATABASE_URL is set) and the bridge (`latchkey-bridge`) as children; locks and phones in this process, on one
 * virtual BLE radio. Provisioned through the Integrator API like any integrator would. Ports stay the same across
 * restarts, so a lock finds its bridge again and the bridge its cloud. Every part is undone by `resources`.
 */
export class E2eSite {
  readonly radio = new VirtualRadio();
  readonly locks: SimLock[] = [];
  readonly siteSecret = randomBytes(24).toString("base64url");
  cloud: CloudProcess | null = null;
  bridge: BridgeProcess | null = null;
  client!: IntegratorClient;
  creds!: CloudCredentials;
  lockHolderId = "";
  bridgeId = "";
  bridgeSecret = "";
  vendorConnectionId = "";
  private readonly bin = bins();
  private readonly cloudEnv: NodeJS.ProcessEnv;
  private lockSeed = 0;
  /** Setup codes (by lock id) not yet posted: a lock started while the cloud is down is claimed once it is back. */
  private readonly pendingClaims = new Map<string, string>();
  readonly claimLocks: boolean;

  private constructor(
    private readonly resources: Resources,
    readonly dir: string,
    readonly apiPort: number,
    readonly mqttPort: number,
    readonly metricsPort: number,
    /** Settable until the bridge starts (the ACL test names the bridge's broker login after its id). */
    public broker: BrokerMode,
    cloudEnv: NodeJS.ProcessEnv = {},
    claimLocks = true,
  ) {
    this.claimLocks = claimLocks;
    this.cloudEnv = { ...childEnv(process.env, cloudDatabaseEnv(resources).DATABASE_URL), ...cloudEnv };
  }

  static async start(resources: Resources, options: E2eSiteOptions = {}): Promise<E2eSite> {
    const dir = resources.tempDir("latchkey-e2e-site-");
    const site = new E2eSite(
      resources,
      dir,
      await freePort(),
      await freePort(),
      await freePort(),
      options.broker ?? { kind: "embedded" },
      options.cloudEnv,
      options.claimLocks ?? true,
    );
    resources.defer("stop the site", () => site.close());
    // With PostgreSQL nothing else creates it, and the cloud keeps its master key there.
    mkdirSync(site.cloudDir, { recursive: true, mode: 0o700 });
    site.creds = await bootstrapIntegrator(site.bin.cloud, site.cloudDir, site.cloudEnv, "e2e integrator");
    await site.startCloud();
    site.client = await IntegratorClient.login(site.apiUrl, site.creds);
    const lh = await site.client.createLockHolder({ name: "E2E homes", countryIso: "NO" });
    site.lockHolderId = lh.id;
    const bridge = await site.client.registerBridge(lh.id, "e2e gateway");
    site.bridgeId = bridge.bridgeId;
    site.bridgeSecret = bridge.secret;
    const vc = await site.client.createVendorConnection(lh.id, {
      vendor: "sim",
      username: VENDOR.username,
      password: options.vendorPassword ?? VENDOR.password,
      bridgeId: bridge.bridgeId,
    });
    site.vendorConnectionId = vc.id;
    return site;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  private get cloudDir(): string {
    return join(this.dir, "cloud");
  }

  /** Where locks connect: the embedded broker's port, or the external broker. */
  get mqttUrl(): string {
    return this.broker.kind === "external" ? this.broker.run.url : `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  get topicPrefix(): string | undefined {
    return this.broker.kind === "external" ? this.broker.run.topicPrefix : undefined;
  }

  /** The bridge's /healthz answer (outbox size, feed and upload status). */
  async bridgeHealth(): Promise<{ outbox: { items: number; bytes: number } } & Record<string, unknown>> {
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/healthz`)).json() as Promise<
      { outbox: { items: number; bytes: number } } & Record<string, unknown>
    >;
  }

  /** A lock id for this site: on a shared external broker (client id = lock id) it carries the run's tag. */
  lockName(base: string): string {
    return this.broker.kind === "external" ? `${base}-${this.broker.run.tag}` : base;
  }

  /** `latchkey-cloud serve` on the site's port and data (again, after stopCloud). */
  async startCloud(): Promise<CloudProcess> {
    this.cloud = await startCloudProcess({
      bin: this.bin.cloud,
      dataDir: this.cloudDir,
      port: this.apiPort,
      env: this.cloudEnv,
      // Webhook receivers of these tests listen on 127.0.0.1, which only this flag lets the cloud reach.
      allowPrivateWebhooks: true,
      // The phones of these tests read their one-time codes from the cloud's log.
      devOtpLog: true,
    });
    await this.postPendingClaims();
    return this.cloud;
  }

  async stopCloud(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const cloud = this.cloud;
    this.cloud = null;
    return cloud ? (await cloud.child.stop(signal)).code : null;
  }

  /**
   * `latchkey-bridge --config …` with the site's ports (again, after stopBridge); resolves once it has read the
   * change feed to its end, or (`waitForFeed: false`, the cloud being down) once it serves its locks.
   */
  async startBridge(options: { waitForFeed?: boolean } = {}): Promise<BridgeProcess> {
    const file = join(this.dir, "bridge.yaml");
    const broker = this.broker;
    writeBridgeConfig(file, {
      cloudUrl: this.apiUrl,
      bridgeId: this.bridgeId,
      bridgeSecret: this.bridgeSecret,
      siteSecret: this.siteSecret,
      dataDir: "bridge",
      vendor: VENDOR,
      mqttPort: this.mqttPort,
      metricsPort: this.metricsPort,
      ...(broker.kind === "external"
        ? {
            mqttUrl: broker.run.url,
            topicPrefix: broker.run.topicPrefix,
            discoveryPrefix: broker.run.discoveryPrefix,
            ...(broker.username ? { mqttUsername: broker.username } : {}),
            ...(broker.password ? { mqttPassword: broker.password } : {}),
          }
        : {}),
      pollWaitSeconds: 5,
      backoffMaxMs: 1000,
      logLevel: "info",
    });
    this.bridge = await startBridgeProcess(this.bin.bridge, file, childEnv(process.env));
    if (options.waitForFeed !== false)
      await this.bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    return this.bridge;
  }

  async stopBridge(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const bridge = this.bridge;
    this.bridge = null;
    return bridge ? (await bridge.child.stop(signal)).code : null;
  }

  /** A simulated lock on the site's broker and radio; its flash lives in the site's directory. */
  async startLock(lockId: string, extra: Partial<LockOptions> = {}): Promise<SimLock> {
    const lock = await startLock({
      lockId,
      dataDir: join(this.dir, "locks"),
      mqttUrl: this.mqttUrl,
      siteSecret: this.siteSecret,
      ...(this.topicPrefix ? { topicPrefix: this.topicPrefix } : {}),
      radio: this.radio,
      random: seededRandom(`e2e-${lockId}-${++this.lockSeed}`),
      telemetryIntervalSeconds: 0,
      mqtt: { reconnectPeriodMs: 200 },
      ...extra,
    });
    this.locks.push(lock);
    if (this.claimLocks) await this.claim(lock);
    return lock;
  }

  /**
   * Claims `lock` for the site's lock holder with the setup code on its label, through the Integrator API (never the
   * bridge). Again after a restart or a factory reset it answers 200. With the cloud down it is posted at its restart.
   */
  async claim(lock: SimLock): Promise<void> {
    this.pendingClaims.set(lock.id, lock.setupCode);
    await this.postPendingClaims();
  }

  private async postPendingClaims(): Promise<void> {
    // Before provisioning (the first cloud start) there is no lock holder to claim for, and no lock yet.
    if (this.cloud === null || this.lockHolderId === "") return;
    for (const [lockId, setupCode] of [...this.pendingClaims]) {
      await this.client.claimLock(this.lockHolderId, setupCode);
      this.pendingClaims.delete(lockId);
    }
  }

  /** A phone registered for `phoneNumber`: the one-time code is read from the cloud's log. */
  async phone(phoneNumber: string): Promise<Phone> {
    const cloud = this.cloud;
    if (!cloud) throw new Error("the cloud is not running");
    const phone = new Phone({ random: seededRandom(`e2e-phone-${phoneNumber}-${randomBytes(4).toString("hex")}`) });
    this.resources.defer(`close phone ${phoneNumber}`, () => phone.close());
    const since = cloud.child.lineCount;
    const started = await phone.requestVerification(this.apiUrl, phoneNumber);
    await phone.confirm(this.apiUrl, started.verificationId, await oneTimeCode(cloud.child, phoneNumber, since));
    return phone;
  }

  /** Waits until the vendor connection is connected and every given lock is listed (and online) in the cloud. */
  async waitForLocks(lockIds: string[], online = true): Promise<void> {
    await this.client.waitForVendorConnection(this.lockHolderId, this.vendorConnectionId, "connected", {
      timeoutMs: 60_000,
    });
    await pollUntil(
      `locks ${lockIds.join(", ")} in the cloud`,
      async () => {
        const { locks } = await this.client.listLocks(this.lockHolderId);
        return lockIds.every((id) => locks.some((l) => l.id === id && (!online || l.online)));
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /**
   * Waits until `lock` trusts every active issuer key of the lock holder and knows the time: the signed state and a
   * signed time answer the bridge relays from the cloud once the lock is claimed (docs/trust.md "Lock"). Before the
   * time, no key opens it (`clock_unset`) and its events carry `ts` 0.
   */
  async waitForTrust(lock: SimLock): Promise<void> {
    const kids = (await this.client.listIssuerKeys(this.lockHolderId)).filter((k) => k.active).map((k) => k.kid);
    await lock.waitFor(
      (l) => l.clockSet && kids.every((kid) => l.trustedKids.includes(kid)),
      `${lock.id} to trust the issuer key and know the time`,
      { timeoutMs: 60_000 },
    );
  }

  /**
   * Waits until the signed state `lock` runs acknowledges every event up to `seq`, so the lock has freed them: only the
   * cloud's `ack` does that (docs/design.md section 7). Not `lock.waitForAcknowledged()`: each applied state adds a
   * `state_applied` event above its own `ack`, left for the next state the lock gets for another reason.
   */
  async waitForAck(lock: SimLock, seq: number): Promise<void> {
    await lock.waitFor((l) => (l.signedState?.ack ?? 0) >= seq, `${lock.id} to get a signed ack of seq ${seq}`, {
      timeoutMs: 60_000,
    });
  }

  private closing: Promise<void> | null = null;

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const lock of this.locks) await lock.stop().catch(() => {});
      await this.stopBridge().catch(() => {});
      await this.stopCloud().catch(() => {});
      if (this.broker.kind === "external" && this.broker.clean !== false) {
        await cleanExternalBroker(this.broker.run, [
          `latchkey-bridge-${this.bridgeId}`,
          ...this.locks.map((l) => l.id),
        ]);
      }
    })();
    return this.closing;
  }
}
