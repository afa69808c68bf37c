import { join } from "node:path";
import { type CloudSettings, type RunningCloud, startCloud } from "@latchkey/cloud";
import {
  connectToLock,
  type LockOptions,
  Phone,
  type SimLock,
  seededRandom,
  startLock,
  VirtualRadio,
} from "@latchkey/lock-sim";
import {
  type CommandResult,
  fromBase64Url,
  keyPairFromSeed,
  MAX_REPORTS_PER_RESULT,
  ManualClock,
  peekReport,
  signUnlockProof,
  toBase64Url,
} from "@latchkey/protocol";
import { BridgeApiClient } from "@latchkey/protocol/clients";
import { IntegratorClient, pollUntil } from "@latchkey/scripts";
import { registerSite } from "@latchkey/scripts/site";
import { pino } from "pino";
import type { Resources } from "../resources.js";
import { DoorWatch } from "./door-watch.js";
import type { LogSink, Secrets } from "./evidence.js";
import { type Answer, type SendOptions, send } from "./routes.js";

/** When every gateway-suite site starts (unix ms): any fixed instant; the cloud, locks and phones share the clock. */
export const T0 = 1_800_000_000_000;

/** One lock holder of the cloud with its gateway, as its integrator set it up (docs/bridge-api.md). */
export interface Tenant {
  name: string;
  /** `integrator.admin` access token. */
  admin: string;
  lhId: string;
  /** `/integrators/v1/lock-holders/{lhId}` */
  lhPath: string;
  bridgeId: string;
  /** The bridge's cloud secret: the compromised gateway holds it. */
  bridgeSecret: string;
  /** The tenant's bridge as a bridge API client (logged in), for what a running bridge would say. */
  bridge: BridgeApiClient;
  bridgeToken: string;
  vendorConnectionId: string;
  vendor: { vendor: "sim"; username: string; password: string };
}

export interface GatewaySiteOptions {
  seed: string;
  settings?: Partial<CloudSettings>;
}

/**
 * The sites of the compromised-gateway suite (test/reliability/compromised-gateway.test.ts): the real cloud in this
 * process on a ManualClock (SQLite, port 0), lock holders ("tenants") set up through the Integrator API, simulated
 * locks on that clock and one virtual radio, phones registered through the app API. Every victim lock started here is
 * watched by `doors`. Ticking is the test's: locks run no timer (`advance` moves the clock and ticks them).
 */
export class GatewaySite {
  readonly clock = new ManualClock(T0);
  /** Two connections per lock: a phone and a stranger in range at once. */
  readonly radio = new VirtualRadio({ maxConnectionsPerPeripheral: 2 });
  readonly doors = new DoorWatch();
  /** The running instance of each lock started here, by id. */
  readonly locks = new Map<string, SimLock>();
  cloud!: RunningCloud;
  private lockRuns = 0;

  private constructor(
    private readonly resources: Resources,
    readonly logs: LogSink,
    readonly secrets: Secrets,
    readonly dir: string,
    private readonly options: GatewaySiteOptions,
  ) {}

  static async start(
    resources: Resources,
    logs: LogSink,
    secrets: Secrets,
    options: GatewaySiteOptions,
  ): Promise<GatewaySite> {
    const site = new GatewaySite(resources, logs, secrets, resources.tempDir("latchkey-gateway-"), options);
    site.cloud = await startCloud({
      dataDir: join(site.dir, "cloud"),
      port: 0,
      clock: site.clock,
      logLevel: "info",
      logStream: logs.stream("cloud"),
      random: seededRandom(`${options.seed}-cloud`),
      masterKey: new Uint8Array(32).fill(0x4c),
      workers: false,
      // The suite moves the clock by days: access tokens must outlive that.
      settings: { accessTokenTtlSeconds: 120 * 86_400, appTokenTtlSeconds: 120 * 86_400, ...options.settings },
    });
    resources.defer("close the gateway site", () => site.close());
    return site;
  }

  get url(): string {
    return this.cloud.url;
  }

  api(method: string, path: string, options: SendOptions = {}): Promise<Answer> {
    return send(this.cloud.port, method, path, options);
  }

  /** `api`, expecting `status`: setup steps that must work. */
  async ok(method: string, path: string, status: number, options: SendOptions = {}): Promise<Answer> {
    const answer = await this.api(method, path, options);
    if (answer.status !== status) throw new Error(`${method} ${path}: ${answer.status} ${answer.text}`);
    return answer;
  }

  /**
   * A lock holder as an integrator sets one up: integrator, lock holder, bridge, `sim` vendor connection served by
   * that bridge; the bridge reports `lockIds` and its connection up, as a running bridge would.
   */
  async tenant(name: string, lockIds: string[]): Promise<Tenant> {
    const slug = name.toLowerCase();
    const creds = await this.cloud.bootstrap(name);
    this.secrets.add(`${name} client secret`, creds.clientSecret);
    const client = await IntegratorClient.login(this.url, creds);
    const admin = client.accessToken;
    this.secrets.add(`${name} integrator.admin token`, admin);
    const vendor = { vendor: "sim" as const, username: `${slug}-site`, password: `${slug}-vendor-pw-0123` };
    this.secrets.add(`${name} vendor password`, vendor.password);
    const site = await registerSite(client, { lockHolder: { name }, bridgeName: `${name} gw`, vendor });
    this.secrets.add(`${name} bridge secret`, site.bridgeSecret);
    const bridge = await BridgeApiClient.login(this.url, { bridgeId: site.bridgeId, secret: site.bridgeSecret });
    this.secrets.add(`${name} bridge token`, bridge.accessToken);
    const tenant: Tenant = {
      name,
      admin,
      lhId: site.lockHolderId,
      lhPath: `/integrators/v1/lock-holders/${site.lockHolderId}`,
      bridgeId: site.bridgeId,
      bridgeSecret: site.bridgeSecret,
      bridge,
      bridgeToken: bridge.accessToken,
      vendorConnectionId: site.vendorConnectionId,
      vendor,
    };
    if (lockIds.length > 0) await this.reportLocks(tenant, lockIds);
    return tenant;
  }

  /** What the tenant's bridge says it found (the full list) and that its connection is up. */
  async reportLocks(tenant: Tenant, lockIds: string[]): Promise<void> {
    await tenant.bridge.reportLocks(tenant.vendorConnectionId, { locks: lockIds.map((id) => ({ id })) });
    await tenant.bridge.reportState(tenant.vendorConnectionId, { state: "connected" });
  }

  /**
   * A lock on the site's clock and radio (flash in the site's directory, so a restart keeps it), its log at debug in
   * the sink, no timer of its own; watched by `doors` unless `victim` is false.
   */
  async startLock(lockId: string, extra: Partial<LockOptions> = {}, victim = true): Promise<SimLock> {
    const lock = await startLock({
      lockId,
      dataDir: join(this.dir, "locks"),
      clock: this.clock,
      radio: this.radio,
      random: seededRandom(`${this.options.seed}-lock-${lockId}-${++this.lockRuns}`),
      tickIntervalMs: 0,
      telemetryIntervalSeconds: 0,
      mqtt: { reconnectPeriodMs: 100, reconnectMaxMs: 1000 },
      logger: pino({ level: "debug" }, this.logs.stream(`lock ${lockId}`)),
      ...extra,
    });
    this.secrets.add(`setup code of ${lockId}`, lock.setupCode);
    this.locks.set(lockId, lock);
    this.resources.defer(`stop lock ${lockId}`, () => lock.stop());
    if (victim) this.doors.watch(lock);
    return lock;
  }

  /** Stops a lock cleanly (its flash stays for a restart). */
  async stopLock(lockId: string): Promise<void> {
    await this.locks.get(lockId)?.stop();
    this.locks.delete(lockId);
  }

  lock(lockId: string): SimLock {
    const lock = this.locks.get(lockId);
    if (lock === undefined) throw new Error(`lock ${lockId} is not running`);
    return lock;
  }

  /** `POST …/locks/claims` with `setupCode` (a lock's own label, or anything an attacker typed). */
  claim(tenant: Tenant, setupCode: string): Promise<Answer> {
    return this.api("POST", `${tenant.lhPath}/locks/claims`, { token: tenant.admin, json: { setupCode } });
  }

  /** Moves the shared clock and lets every running lock do what is now due (re-lock, time requests, re-sends). */
  advance(ms: number): void {
    this.clock.advance(ms);
    for (const lock of this.locks.values()) lock.tick();
  }

  /**
   * A phone registered through the app API (docs/app-api.md steps 1–2) with a device key the test knows (`device`),
   * so it can also answer a challenge by hand; the one-time code is read from the cloud's log (its development sender).
   */
  async phone(phoneNumber: string): Promise<{ phone: Phone; device: ReturnType<typeof keyPairFromSeed> }> {
    const deviceSeed = seededRandom(`${this.options.seed}-device-${phoneNumber}`)(32);
    const phone = new Phone({
      random: seededRandom(`${this.options.seed}-phone-${phoneNumber}`),
      clock: this.clock,
      deviceSeed,
    });
    this.resources.defer(`close phone ${phoneNumber}`, () => phone.close());
    const started = await phone.requestVerification(this.url, phoneNumber);
    const record = await pollUntil(
      `the one-time code for ${phoneNumber}`,
      () => [...this.logs.records("one-time code")].reverse().find((r) => r.phoneNumber === phoneNumber),
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    await phone.confirm(this.url, started.verificationId, String(record.code));
    this.secrets.add(`app token of ${phoneNumber}`, phone.accessToken);
    return { phone, device: keyPairFromSeed(deviceSeed) };
  }

  /** A key for `userId` on `lockId` (`POST …/locks/{lockId}/keys`); answers the key's id. */
  async createKey(tenant: Tenant, lockId: string, input: Record<string, unknown>): Promise<string> {
    const key = await this.ok("POST", `${tenant.lhPath}/locks/${lockId}/keys`, 201, {
      token: tenant.admin,
      json: input,
    });
    return key.body.id as string;
  }

  async revokeKey(tenant: Tenant, keyId: string): Promise<void> {
    await this.ok("PUT", `${tenant.lhPath}/keys/${keyId}`, 200, { token: tenant.admin, json: { state: "revoked" } });
  }

  /**
   * A key token presented by hand over the radio (challenge, proof with `deviceSecretKey`, unlock), whatever the
   * phone's own clock thinks of it: the lock decides. Answers the lock's `unlock` result.
   */
  async presentKey(lockId: string, token: Uint8Array, deviceSecretKey: Uint8Array): Promise<CommandResult> {
    const session = await connectToLock(await this.radio.noble(), lockId, { timeoutMs: 10_000 });
    try {
      const challenge = await session.request({ id: `key-${++this.lockRuns}`, type: "challenge" });
      if (!challenge.ok || challenge.nonce === undefined) return challenge;
      const nonce = challenge.nonce;
      const proof = signUnlockProof({ lockId, nonce, token, deviceSecretKey });
      return await session.request({ id: `key-${++this.lockRuns}`, type: "unlock", token, nonce, proof });
    } finally {
      await session.close();
    }
  }

  /** An honest phone's prefetch: every key it gets is one whose unlocks are honest (until revoked). */
  async prefetch(phone: Phone): Promise<void> {
    await phone.prefetch(this.url);
    for (const key of phone.keys) this.doors.honestKey(key.claims.cti);
  }

  private closing: Promise<void> | null = null;

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const lock of this.locks.values()) await lock.stop().catch(() => {});
      const closing = this.cloud.close();
      this.cloud.app.server.closeAllConnections();
      await closing;
    })();
    return this.closing;
  }
}

/**
 * The work of an honest bridge for one tenant, done by the test over direct commands to the lock (as a BLE gateway
 * does at each visit, docs/mqtt.md "BLE"): the lock's latest signed state, a signed time answer, its sealed reports
 * to `POST /bridge/v1/reports`. The test uses it to provision victims and to carry what the attacker does not touch.
 */
export class HonestCourier {
  private readonly pulled = new Map<string, number>();
  private commands = 0;

  constructor(
    private readonly site: GatewaySite,
    private readonly tenant: Tenant,
  ) {}

  private id(): string {
    return `courier-${++this.commands}`;
  }

  /** The lock's latest signed state as the cloud hands it to this tenant's bridge. */
  async state(lockId: string): Promise<{ v: number; bytes: Uint8Array }> {
    const answer = await this.site.ok("GET", `/bridge/v1/locks/${lockId}/state`, 200, {
      token: this.tenant.bridgeToken,
    });
    return { v: answer.body.v as number, bytes: fromBase64Url(answer.body.state) };
  }

  /** Fetches and delivers the latest state; answers the lock's result (`v` it runs, or its refusal). */
  async deliverState(lock: SimLock): Promise<CommandResult> {
    const { bytes } = await this.state(lock.id);
    return lock.command({ id: this.id(), type: "state", doc: bytes });
  }

  /** The cloud's signed answer to a time request (the lock's own bytes, or an attacker's). */
  async answer(lockId: string, request: Uint8Array): Promise<Answer> {
    return this.site.api("POST", `/bridge/v1/locks/${lockId}/time`, {
      token: this.tenant.bridgeToken,
      json: { request: toBase64Url(request) },
    });
  }

  /** A time request from the lock, the cloud's answer, delivered at once; answers the lock's result. */
  async time(lock: SimLock): Promise<CommandResult> {
    const asked = lock.command({ id: this.id(), type: "time_request" });
    if (!asked.ok || asked.request === undefined) throw new Error(`time_request: ${asked.code} ${asked.message}`);
    const answer = await this.answer(lock.id, asked.request);
    if (answer.status !== 200) throw new Error(`time: ${answer.status} ${answer.text}`);
    return lock.command({ id: this.id(), type: "time_answer", answer: fromBase64Url(answer.body.answer) });
  }

  /** State, then time: a claimed lock ready to open for its holder's keys. */
  async provision(lock: SimLock): Promise<void> {
    const state = await this.deliverState(lock);
    if (!state.ok) throw new Error(`state refused by ${lock.id}: ${state.code} ${state.message}`);
    const time = await this.time(lock);
    if (!time.ok) throw new Error(`time refused by ${lock.id}: ${time.code} ${time.message}`);
  }

  /** The lock's sealed reports above the last counter pulled from it (`reports {after}`), uncarried. */
  pull(lock: SimLock): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (;;) {
      const after = this.pulled.get(lock.id) ?? 0;
      const result = lock.command({ id: this.id(), type: "reports", after });
      const reports = result.reports ?? [];
      for (const r of reports) {
        out.push(r);
        this.pulled.set(lock.id, Math.max(this.pulled.get(lock.id) ?? 0, peekReport(r, lock.id).ctr));
      }
      if (reports.length < MAX_REPORTS_PER_RESULT) return out;
    }
  }

  /** `POST /bridge/v1/reports` with `items` as the bridge sends them (the lock's keys on each). */
  async upload(
    items: Array<{ lockId: string; report: Uint8Array; keys?: { identity: Uint8Array; x25519: Uint8Array } }>,
  ): Promise<{ results: Array<{ index: number; verdict: string }>; counts: Record<string, number> }> {
    const answer = await this.site.ok("POST", "/bridge/v1/reports", 200, {
      token: this.tenant.bridgeToken,
      json: {
        items: items.map((i) => ({
          lockId: i.lockId,
          report: toBase64Url(i.report),
          ...(i.keys ? { keys: { identity: toBase64Url(i.keys.identity), x25519: toBase64Url(i.keys.x25519) } } : {}),
        })),
      },
    });
    return answer.body;
  }

  /** Pulls the lock's new reports and uploads them with its keys; answers the verdicts (all `ok` when honest). */
  async carryReports(lock: SimLock): Promise<string[]> {
    const reports = this.pull(lock);
    if (reports.length === 0) return [];
    const keys = { identity: lock.publicKeys.identityKey, x25519: lock.publicKeys.agreementKey };
    const body = await this.upload(reports.map((report) => ({ lockId: lock.id, report, keys })));
    return body.results.map((r) => r.verdict);
  }
}
