import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type BridgeConfigInit, type BridgeOptions, type RunningBridge, startBridge } from "@latchkey/bridge";
import { type CloudOptions, type RunningCloud, startCloud } from "@latchkey/cloud";
import { type LockOptions, Phone, type SimLock, seededRandom, startLock, VirtualRadio } from "@latchkey/lock-sim";
import type { Clock } from "@latchkey/protocol";
import { pollUntil, type Truthy } from "@latchkey/runtime";

/**
 * A whole site on one machine: the real cloud (in process), the bridge (in process or as its `latchkey-bridge`
 * process), simulated locks on MQTT and a virtual BLE radio, and phones. Everything listens on 127.0.0.1 port 0.
 */

export const SITE_SECRET = "whole-site-secret-0123456789abcdef";
export const VENDOR = { vendor: "sim" as const, username: "site-a", password: "vendor-password-a" };
const MASTER_KEY = new Uint8Array(32).fill(9);

export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON
      }
    }
    done();
  }
}

/** runtime's pollUntil with the site tests' deadline as a plain argument. */
export function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000): Promise<Truthy<T>> {
  return pollUntil(what, check, { timeoutMs, intervalMs: 25 });
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in tests
export type Json = any;

/** The integrator API with an `integrator.admin` token. */
export class IntegratorApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  static async login(baseUrl: string, clientId: string, clientSecret: string): Promise<IntegratorApi> {
    const res = await fetch(`${baseUrl}/auth/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        grant_type: "client_credentials",
        client_id: clientId,
        client_secret: clientSecret,
        scope: "integrator.admin",
      }),
    });
    const body = (await res.json()) as Json;
    if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(body)}`);
    return new IntegratorApi(baseUrl, body.access_token);
  }

  withBase(baseUrl: string): IntegratorApi {
    return new IntegratorApi(baseUrl, this.token);
  }

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${this.baseUrl}/integrators/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  async ok(method: string, path: string, body?: unknown): Promise<Json> {
    const answer = await this.call(method, path, body);
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }
}

export interface Site {
  dir: string;
  clock: Clock;
  cloud: RunningCloud;
  cloudLog: LogCapture;
  api: IntegratorApi;
  lockHolderId: string;
  bridgeId: string;
  bridgeSecret: string;
  vcId: string;
  radio: VirtualRadio;
  locks: SimLock[];
  phones: Phone[];
  bridge: RunningBridge | null;
  /** Stops and restarts the cloud on the same port and data (the bridge keeps its URL). */
  restartCloud(down?: () => Promise<void>): Promise<void>;
  stopCloud(): Promise<void>;
  startCloudAgain(): Promise<void>;
  bridgeConfig(extra?: Partial<BridgeConfigInit>): BridgeConfigInit;
  startBridge(extra?: Partial<BridgeConfigInit>, options?: BridgeOptions): Promise<RunningBridge>;
  startLock(lockId: string, extra?: Partial<LockOptions>): Promise<SimLock>;
  /**
   * Claims `lock` with its setup code through the Integrator API (startLock does it unless `claimLocks: false`); with
   * the cloud stopped, the claim is posted when it starts again.
   */
  claim(lock: SimLock): Promise<void>;
  /** A phone registered for `phoneNumber` (one-time code read from the cloud's log). */
  phone(phoneNumber: string): Promise<Phone>;
  lockHolder(path?: string): string;
  close(): Promise<void>;
}

export interface SiteOptions {
  clock?: Clock;
  vendorPassword?: string;
  vendor?: "sim" | "ble";
  /**
   * Claim each lock startLock starts with its setup code, as an integrator would (docs/design.md section 7). Default
   * true, so the cloud's enforcement of claims finds every test's locks claimed; false for tests of unclaimed locks.
   */
  claimLocks?: boolean;
}

export async function createSite(options: SiteOptions = {}): Promise<Site> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-site-"));
  const clock = options.clock ?? { now: () => Date.now() };
  const cloudLog = new LogCapture();
  let cloudRuns = 0;
  const cloudOptions = (port: number): CloudOptions => ({
    dataDir: join(dir, "cloud"),
    port,
    clock,
    logLevel: "info",
    logStream: cloudLog,
    masterKey: MASTER_KEY,
    // A new seed per run: ids from a restarted cloud must not repeat those of the first run.
    random: seededRandom(`site-cloud-${++cloudRuns}`),
    workerPollMs: 50,
  });
  let cloud = await startCloud(cloudOptions(0));
  const port = cloud.port;
  const creds = await cloud.bootstrap("Site integrator");
  const api = await IntegratorApi.login(cloud.url, creds.clientId, creds.clientSecret);
  const lh = await api.ok("POST", "/lock-holders", { name: "Site homes", countryIso: "NO" });
  const lockHolder = (path = "") => `/lock-holders/${lh.id}${path}`;
  const br = await api.ok("POST", lockHolder("/bridges"), { name: "gateway" });
  const vendor = options.vendor ?? "sim";
  const vc = await api.ok("POST", lockHolder("/vendor-connections"), {
    vendor,
    username: VENDOR.username,
    password: options.vendorPassword ?? VENDOR.password,
    bridgeId: br.bridgeId,
  });
  const radio = new VirtualRadio();
  let lockSeed = 0;
  let cloudUp = true;
  // Setup codes (by lock id) not yet posted: a lock started while the cloud is down is claimed once it is back.
  const pendingClaims = new Map<string, string>();
  const postPendingClaims = async () => {
    if (!cloudUp) return;
    for (const [lockId, setupCode] of [...pendingClaims]) {
      await api.withBase(site.cloud.url).ok("POST", lockHolder("/locks/claims"), { setupCode });
      pendingClaims.delete(lockId);
    }
  };

  const site: Site = {
    dir,
    clock,
    cloud,
    cloudLog,
    api,
    lockHolderId: lh.id,
    bridgeId: br.bridgeId,
    bridgeSecret: br.secret,
    vcId: vc.vendorConnection.id,
    radio,
    locks: [],
    phones: [],
    bridge: null,
    lockHolder,
    async stopCloud() {
      cloudUp = false;
      await closeCloud(site.cloud);
    },
    async startCloudAgain() {
      cloud = await startCloud(cloudOptions(port));
      site.cloud = cloud;
      cloudUp = true;
      await postPendingClaims();
    },
    async restartCloud(down) {
      await site.stopCloud();
      await down?.();
      await site.startCloudAgain();
    },
    bridgeConfig(extra = {}) {
      return {
        ...extra,
        cloud: {
          url: site.cloud.url,
          bridgeId: br.bridgeId,
          secret: br.secret,
          pollWaitSeconds: 5,
          backoffInitialMs: 50,
          backoffMaxMs: 500,
          requestTimeoutSeconds: 5,
          ...extra.cloud,
        },
        dataDir: join(dir, "bridge"),
        mqtt: { siteSecret: SITE_SECRET, port: 0, ...extra.mqtt },
        metrics: { port: 0, ...extra.metrics },
        vendorAccounts: extra.vendorAccounts ?? [{ ...VENDOR, vendor }],
        log: { level: "warn", ...extra.log },
      } as BridgeConfigInit;
    },
    async startBridge(extra = {}, bridgeOptions = {}) {
      site.bridge = await startBridge(site.bridgeConfig(extra), {
        clock,
        logStream: new LogCapture(),
        ...bridgeOptions,
      });
      return site.bridge;
    },
    async startLock(lockId, extra = {}) {
      const lock = await startLock({
        lockId,
        dataDir: join(dir, "locks", lockId),
        ...(site.bridge && vendor === "sim" ? { mqttUrl: site.bridge.mqttUrl } : {}),
        siteSecret: SITE_SECRET,
        clock,
        random: seededRandom(`site-lock-${lockId}-${++lockSeed}`),
        radio,
        telemetryIntervalSeconds: 0,
        mqtt: { reconnectPeriodMs: 200 },
        ...extra,
      });
      site.locks.push(lock);
      if (options.claimLocks !== false) await site.claim(lock);
      return lock;
    },
    async claim(lock) {
      pendingClaims.set(lock.id, lock.setupCode);
      await postPendingClaims();
    },
    async phone(phoneNumber) {
      const phone = new Phone({ clock, random: seededRandom(`site-phone-${phoneNumber}`) });
      site.phones.push(phone);
      const started = await phone.requestVerification(site.cloud.url, phoneNumber);
      const line = await until("the one-time code in the cloud log", () =>
        [...cloudLog.lines].reverse().find((l) => l.msg === "one-time code" && l.phoneNumber === phoneNumber),
      );
      await phone.confirm(site.cloud.url, started.verificationId, String(line.code));
      return phone;
    },
    async close() {
      for (const phone of site.phones) phone.close();
      for (const lock of site.locks) await lock.stop().catch(() => {});
      await site.bridge?.stop().catch(() => {});
      await closeCloud(site.cloud).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return site;
}

/**
 * Closes the cloud without waiting out idle keep-alive connections of this process's fetch clients: fastify's close
 * otherwise lingers until its 72 s keep-alive timeout.
 */
async function closeCloud(cloud: RunningCloud): Promise<void> {
  const closing = cloud.close();
  cloud.app.server.closeAllConnections();
  await closing;
}

/** Key events the cloud lists for the lock holder (all pages). */
export async function cloudEvents(site: Site): Promise<Json[]> {
  const api = site.api.withBase(site.cloud.url);
  const out: Json[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await api.ok("GET", site.lockHolder(`/events?limit=2500${after ? `&startAfterId=${after}` : ""}`));
    out.push(...page.events);
    if (!page.startAfterId) return out;
    after = page.startAfterId;
  }
}

export async function cloudLocks(site: Site): Promise<Json[]> {
  return (await site.api.withBase(site.cloud.url).ok("GET", site.lockHolder("/locks"))).locks;
}

/**
 * Until `lock` runs a signed state and has had a signed time answer (the bridge relays both once the lock is claimed,
 * docs/trust.md "Lock"). Events stamped before the lock knows the time carry `ts` 0, which the cloud's event list
 * (newest 30 days) leaves out: a test that reads events back makes them after this.
 */
export async function ready(lock: SimLock, timeoutMs = 30_000): Promise<void> {
  await lock.waitFor((l) => l.stateV > 0 && l.clockSet, "a signed state and a signed time", { timeoutMs });
}

/**
 * Until the signed state `lock` runs acknowledges every event up to `seq` (default: the last event it made so far), so
 * it has freed them. Not `waitForAcknowledged`: each applied state adds a `state_applied` event above its own `ack`,
 * which the bridge leaves for the next state the lock gets for another reason (docs/mqtt.md "Reports and keys").
 */
export async function acknowledged(
  lock: SimLock,
  seq = lock.events.at(-1)?.seq ?? 0,
  timeoutMs = 30_000,
): Promise<void> {
  await lock.waitFor((l) => (l.signedState?.ack ?? 0) >= seq, `a signed ack of seq ${seq}`, { timeoutMs });
}

/** An unlock attempt with a malformed token: the lock refuses it and records exactly one `denied` event. */
export function deniedAttempt(lock: SimLock, n: number): void {
  lock.command({
    id: `probe-${n}`,
    type: "unlock",
    token: new Uint8Array([1, 2, 3]),
    proof: new Uint8Array(64),
    nonce: new Uint8Array(16),
  });
}
