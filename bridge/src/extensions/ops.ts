import type { ActionRunner } from "../actions/action-runner.js";
import type { BleAdapter } from "../ble/ble-adapter.js";
import type { CloudLinkStatus } from "../cloud/link.js";
import type { FeedFollower } from "../feed/feed-follower.js";
import { degradations } from "../ops/degraded.js";
import { type Health, OpsServer } from "../ops/http.js";
import { StatusLogin } from "../status/login.js";
import { type LockStatus, lockStatus, type SiteStatus } from "../status/snapshot.js";
import { StatusPage } from "../status/status-page.js";
import { StatusStream } from "../status/stream.js";
import type { StateRelay } from "../trust/state-relay.js";
import type { TimeRelay } from "../trust/time-relay.js";
import type { Uploader } from "../uploader/uploader.js";
import type { VendorConnections } from "../vendors/vendor-connections.js";
import { BRIDGE_VERSION } from "../version.js";
import type { BridgeContext, Extension } from "./extension.js";

/** The parts of the health answer other modules read (the rest is for people and probes). */
export interface BridgeHealthParts {
  status: string;
  degraded: ReturnType<typeof degradations>;
  cloud: CloudLinkStatus;
  ble: { state: string } | null;
}

/** The parts whose status the health answer and the status page show. */
export interface ObservedParts {
  feed: FeedFollower;
  uploader: Uploader;
  states: StateRelay;
  times: TimeRelay;
  actions: ActionRunner;
  vendors: VendorConnections;
  ble: BleAdapter | null;
}

const memoryMb = () => {
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external) };
};

/** The bridge's health (`/healthz`, Home Assistant's bridge device) and the status page's snapshots. */
export class BridgeStatus {
  private readonly startedAt: number;

  constructor(
    private readonly ctx: BridgeContext,
    private readonly parts: ObservedParts,
    private readonly started: () => boolean,
  ) {
    this.startedAt = ctx.clock.now();
  }

  health(): Health {
    const { ctx, parts } = this;
    const { broker, link, outbox, registry, settings } = ctx;
    const started = this.started();
    const draining = ctx.draining();
    const degraded = degradations({
      now: ctx.clock.now(),
      cloud: link.status,
      cloudUnreachableSeconds: settings.health.cloudUnreachableSeconds,
      outbox: outbox.status(),
      outboxPercent: settings.health.outboxPercent,
      ble: parts.ble?.status ?? null,
    });
    return {
      ok: started && !draining && broker.connected,
      status: draining
        ? "draining"
        : !started
          ? "starting"
          : !broker.connected
            ? "broker_disconnected"
            : degraded.length > 0
              ? "degraded"
              : "running",
      degraded,
      version: BRIDGE_VERSION,
      bridgeId: ctx.bridgeId,
      broker: { kind: broker.kind, url: broker.url, connected: broker.connected },
      cloud: link.status,
      feed: parts.feed.status,
      upload: parts.uploader.status,
      outbox: outbox.size,
      locks: { known: registry.size, online: registry.countOnline(), keys: registry.countKeys() },
      relay: { states: parts.states.status, time: parts.times.status },
      actions: parts.actions.status,
      ble: parts.ble ? parts.ble.status : null,
      memory: memoryMb(),
    };
  }

  site(): SiteStatus {
    const { ctx, parts } = this;
    const h = this.health() as Health & BridgeHealthParts;
    return {
      bridge: {
        id: ctx.bridgeId,
        version: BRIDGE_VERSION,
        status: String(h.status),
        degraded: h.degraded,
        startedAt: this.startedAt,
      },
      broker: { kind: ctx.broker.kind, url: ctx.broker.url, connected: ctx.broker.connected },
      cloud: ctx.link.status,
      feed: parts.feed.status,
      upload: { reportsRefused: parts.uploader.status.reportsRefused },
      outbox: ctx.outbox.status(),
      ble: parts.ble ? parts.ble.status : null,
      actions: { ...parts.actions.status, recent: parts.actions.recent() },
      vendorConnections: parts.vendors.list(),
    };
  }

  locks(): LockStatus[] {
    const { registry, activity } = this.ctx;
    activity.retain((id) => registry.get(id) !== undefined);
    const held = this.parts.states.keptVersions();
    return [...registry.all()]
      .map((lock) => lockStatus(lock, activity, held.get(lock.lockId)))
      .sort((a, b) => (a.lockId < b.lockId ? -1 : 1));
  }
}

/** `/metrics`, `/healthz` and the status page; stopped late, so `/healthz` says `draining` while the others stop. */
export class OpsExtension implements Extension {
  readonly name = "ops";
  private readonly server: OpsServer;
  url: string | null = null;

  constructor(
    private readonly ctx: BridgeContext,
    status: BridgeStatus,
  ) {
    const { settings, metrics, clock } = ctx;
    const page = settings.status.enabled
      ? new StatusPage(
          new StatusStream({ site: () => status.site(), locks: () => status.locks(), now: () => clock.now() }),
          settings.status.password ? new StatusLogin(settings.status.username, settings.status.password) : null,
          metrics,
        )
      : null;
    this.server = new OpsServer(metrics, () => status.health(), page);
  }

  /** Whether the status page is served (at `url`/). */
  get statusPage(): boolean {
    return this.ctx.settings.status.enabled;
  }

  async start(): Promise<void> {
    const { metrics } = this.ctx.settings;
    if (metrics.enabled) this.url = await this.server.listen(metrics.host, metrics.port);
  }

  async stop(): Promise<void> {
    await this.server.close();
  }
}
