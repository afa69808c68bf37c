import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { BridgeConfigInit, BridgeOptions, RunningBridge } from "@latchkey/bridge";
import type { RunningCloud } from "@latchkey/cloud";
import { type LockOptions, Phone, type SimLock, seededRandom, VirtualRadio } from "@latchkey/lock-sim";
import type { Clock } from "@latchkey/protocol";
import { pollUntil, type Truthy } from "@latchkey/runtime";
import { mergeSettings, QUICK_CLOUD_TIMINGS, type Settings, SiteHarness } from "@latchkey/scripts/site";
import { checkedExchange } from "../src/openapi-contract.js";

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

/**
 * Raw calls of the integrator API with the site's `integrator.admin` token (the harness's typed client logged in): the
 * tests read answers field by field, refusals included, and a 401 stays a 401 here (the typed client logs in again).
 */
export class IntegratorApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

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
  const vendor = options.vendor ?? "sim";
  const radio = new VirtualRadio();
  let bridge: RunningBridge | null = null;
  const harness = await SiteHarness.start({
    dir,
    cloud: {
      kind: "in-process",
      options: (run) => ({
        clock,
        logLevel: "info",
        logStream: cloudLog,
        masterKey: MASTER_KEY,
        // A new seed per run: ids from a restarted cloud must not repeat those of the first run.
        random: seededRandom(`site-cloud-${run}`),
        workerPollMs: 50,
      }),
    },
    siteSecret: SITE_SECRET,
    vendor: { ...VENDOR, vendor },
    ...(options.vendorPassword !== undefined ? { connectionPassword: options.vendorPassword } : {}),
    names: { integrator: "Site integrator", lockHolder: "Site homes", bridge: "gateway" },
    ...(options.claimLocks !== undefined ? { claimLocks: options.claimLocks } : {}),
    bridgeSettings: mergeSettings(QUICK_CLOUD_TIMINGS, { log: { level: "warn" } }),
    bridgeOptions: () => ({ clock, logStream: new LogCapture(), cloudExchange: checkedExchange }),
    lockOptions: (lockId, n) => ({
      dataDir: join(dir, "locks", lockId),
      ...(bridge && vendor === "sim" ? { mqttUrl: bridge.mqttUrl } : {}),
      clock,
      random: seededRandom(`site-lock-${lockId}-${n}`),
      radio,
      mqtt: { reconnectPeriodMs: 200, reconnectMaxMs: 1000 },
    }),
  });
  const api = new IntegratorApi(harness.apiUrl, harness.client.accessToken);
  const lockHolder = (path = "") => `/lock-holders/${harness.lockHolderId}${path}`;

  const site: Site = {
    dir,
    clock,
    get cloud() {
      if (!harness.cloud) throw new Error("the cloud is stopped");
      return harness.cloud;
    },
    cloudLog,
    api,
    lockHolderId: harness.lockHolderId,
    bridgeId: harness.bridgeId,
    bridgeSecret: harness.bridgeSecret,
    vcId: harness.vendorConnectionId,
    radio,
    locks: harness.locks,
    phones: [],
    get bridge() {
      return harness.bridge;
    },
    lockHolder,
    async stopCloud() {
      await harness.stopCloud();
    },
    async startCloudAgain() {
      await harness.startCloud();
    },
    async restartCloud(down) {
      await site.stopCloud();
      await down?.();
      await site.startCloudAgain();
    },
    bridgeConfig(extra = {}) {
      return harness.bridgeSettings(extra as Settings);
    },
    async startBridge(extra = {}, bridgeOptions = {}) {
      bridge = await harness.startBridge(extra as Settings, bridgeOptions);
      return bridge;
    },
    startLock: (lockId, extra = {}) => harness.startLock(lockId, extra),
    claim: (lock) => harness.claim(lock),
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
      await harness.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return site;
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

/** The one malformed unlock attempt of both suites (the lock records exactly one `denied` event). */
export { deniedAttempt } from "../src/reliability/events.js";
