import { randomBytes } from "node:crypto";
import { Phone, type SimLock, seededRandom, VirtualRadio } from "@latchkey/lock-sim";
import { type BridgeProcess, type CloudProcess, childEnv, freePort, oneTimeCode, pollUntil } from "@latchkey/scripts";
import { SiteHarness } from "@latchkey/scripts/site";
import { cloudDatabaseEnv } from "./database.js";
import { cleanExternalBroker, type ExternalBrokerRun } from "./external-mqtt.js";
import { HarnessSite } from "./harness-site.js";
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
 * virtual BLE radio. The site is the one harness of `@latchkey/scripts/site` in its process modes; this adds the
 * broker modes and the waits of the end-to-end tests. Every part is undone by `resources`.
 */
export class E2eSite extends HarnessSite {
  readonly radio = new VirtualRadio();

  private constructor(
    private readonly resources: Resources,
    harness: SiteHarness,
    /** Settable until the bridge starts (the ACL test names the bridge's broker login after its id). */
    public broker: BrokerMode,
    readonly claimLocks: boolean,
  ) {
    super(harness);
  }

  static async start(resources: Resources, options: E2eSiteOptions = {}): Promise<E2eSite> {
    const dir = resources.tempDir("latchkey-e2e-site-");
    const broker = options.broker ?? { kind: "embedded" };
    const claimLocks = options.claimLocks ?? true;
    let lockSeed = 0;
    // The locks' options are read at each start, when the site (its radio, its broker as then set) exists.
    let site: E2eSite | undefined;
    const harness = await SiteHarness.start({
      dir,
      cloud: {
        kind: "process",
        env: { ...childEnv(process.env, cloudDatabaseEnv(resources).DATABASE_URL), ...options.cloudEnv },
        // Webhook receivers of these tests listen on 127.0.0.1, which only this flag lets the cloud reach.
        allowPrivateWebhooks: true,
        // The phones of these tests read their one-time codes from the cloud's log.
        devOtpLog: true,
      },
      // Ports stay the same across restarts, so a lock finds its bridge again and the bridge its cloud.
      ports: { api: await freePort(), mqtt: await freePort(), metrics: await freePort() },
      siteSecret: randomBytes(24).toString("base64url"),
      vendor: { vendor: "sim", ...VENDOR },
      ...(options.vendorPassword !== undefined ? { connectionPassword: options.vendorPassword } : {}),
      names: { integrator: "e2e integrator", lockHolder: "E2E homes", bridge: "e2e gateway" },
      claimLocks,
      bridgeSettings: { cloud: { pollWaitSeconds: 5, backoffInitialMs: 500, backoffMaxMs: 1000 } },
      lockOptions: (lockId) => ({
        mqttUrl: site!.mqttUrl,
        ...(site!.topicPrefix ? { topicPrefix: site!.topicPrefix } : {}),
        radio: site!.radio,
        random: seededRandom(`e2e-${lockId}-${++lockSeed}`),
        mqtt: { reconnectPeriodMs: 200, reconnectMaxMs: 1000 },
      }),
    });
    site = new E2eSite(resources, harness, broker, claimLocks);
    resources.defer("stop the site", () => site.close());
    return site;
  }

  get cloud(): CloudProcess | null {
    return this.harness.cloudProcess;
  }

  get bridge(): BridgeProcess | null {
    return this.harness.bridgeProcess;
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
    await this.harness.startCloud();
    return this.cloud!;
  }

  async stopCloud(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    return this.harness.stopCloud(signal);
  }

  /**
   * `latchkey-bridge --config …` with the site's ports (again, after stopBridge); resolves once it has read the
   * change feed to its end, or (`waitForFeed: false`, the cloud being down) once it serves its locks.
   */
  async startBridge(options: { waitForFeed?: boolean } = {}): Promise<BridgeProcess> {
    const broker = this.broker;
    const bridge = await this.harness.startBridgeProcess(
      broker.kind === "external"
        ? {
            topicPrefix: broker.run.topicPrefix,
            mqtt: {
              broker: "external",
              url: broker.run.url,
              ...(broker.username ? { username: broker.username } : {}),
              ...(broker.password ? { password: broker.password } : {}),
            },
            homeassistant: { discoveryPrefix: broker.run.discoveryPrefix },
          }
        : {},
    );
    if (options.waitForFeed !== false)
      await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    return bridge;
  }

  async stopBridge(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    return this.harness.stopBridgeProcess(signal);
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
      await this.harness.close();
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
