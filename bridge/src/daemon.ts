import { join } from "node:path";
import { type Clock, type CommandResult, MAX_TIME_RTT_MS, Topics } from "@latchkey/protocol";
import { ActionRunner } from "./actions/action-runner.js";
import { BleAdapter } from "./ble/ble-adapter.js";
import { BleGateway } from "./ble/ble-gateway.js";
import { BleUnavailableError, loadHardwareNoble, type Noble } from "./ble/noble-loader.js";
import { EmbeddedBroker } from "./broker/embedded.js";
import type { InboundHandler, LockBroker } from "./broker/transport.js";
import { CloudClient } from "./cloud/client.js";
import { CloudLink, type CloudLinkStatus } from "./cloud/link.js";
import { CommandChannel, type CommandRequest } from "./commands/command-channel.js";
import type { BridgeConfig } from "./config/schema.js";
import { type BridgeConfigInit, parseBridgeConfig } from "./config/validate.js";
import { FeedFollower } from "./feed/feed-follower.js";
import { HomeAssistant } from "./homeassistant/home-assistant.js";
import { LockActivity } from "./locks/lock-activity.js";
import { LockMessages } from "./locks/lock-messages.js";
import { LockProbe } from "./locks/lock-probe.js";
import { LockRegistry } from "./locks/registry.js";
import { degradations } from "./ops/degraded.js";
import { HeartbeatLoop } from "./ops/heartbeat.js";
import { type Health, OpsServer } from "./ops/http.js";
import { createLogger, type Logger } from "./ops/logger.js";
import { BridgeMetrics } from "./ops/metrics.js";
import { Outbox } from "./outbox/outbox.js";
import { Backoff } from "./retry/backoff.js";
import { StatusLogin } from "./status/login.js";
import { type LockStatus, lockStatus, type SiteStatus } from "./status/snapshot.js";
import { StatusPage } from "./status/status-page.js";
import { StatusStream } from "./status/stream.js";
import { openDatabase } from "./store/database.js";
import { ensurePrivateDir, type ModeFix } from "./store/private-files.js";
import { BRIDGE_MIGRATIONS } from "./store/schema.js";
import { WalSync } from "./store/wal-sync.js";
import { WriteBatcher } from "./store/write-batcher.js";
import { AckRefetch } from "./trust/ack-refetch.js";
import { StateRelay } from "./trust/state-relay.js";
import { TimeRelay } from "./trust/time-relay.js";
import { OutageReport } from "./uploader/outage-report.js";
import { Uploader } from "./uploader/uploader.js";
import { VendorConnections } from "./vendors/vendor-connections.js";
import { BRIDGE_VERSION } from "./version.js";

/** The parts of the health answer other modules read (the rest is for people and probes). */
interface BridgeHealthParts {
  status: string;
  degraded: ReturnType<typeof degradations>;
  cloud: CloudLinkStatus;
  ble: { state: string } | null;
}

const memoryMb = () => {
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external) };
};

export interface BridgeOptions {
  /** Time for timestamps and remote actions' expiry (default: the system clock). Timers still run in real time. */
  clock?: Clock;
  /** Where pino writes (default stdout). */
  logStream?: NodeJS.WritableStream;
  /** [0, 1) source for backoff jitter (seeded in tests). */
  random?: () => number;
  /** How long a relayed time request may wait for the cloud (default and cap: 5 s, docs/trust.md); tests shorten it. */
  timeRelayCapMs?: number;
  /** A noble instance for `ble` locks (e.g. a lock simulator's VirtualRadio); default: the host's adapter. */
  noble?: Noble;
  /** Loads noble when BLE is on and no `noble` is given (default: the host's adapter); tried again with backoff. */
  loadNoble?: () => Promise<Noble>;
  /** First delay before trying the Bluetooth adapter again (default 1000 ms; doubles up to `ble.retryMaxSeconds`). */
  bleRetryInitialMs?: number;
}

export interface RunningBridge {
  readonly bridgeId: string;
  readonly config: BridgeConfig;
  /** Where locks connect: the embedded broker's listener, or the external broker's URL. */
  readonly mqttUrl: string;
  readonly wsUrl: string | null;
  /** Base URL of /metrics and /healthz, or null when disabled. */
  readonly metricsUrl: string | null;
  /** Resolves once the change feed has been read to its end (the bridge knows the cloud's current state). */
  readonly ready: Promise<void>;
  readonly logger: Logger;
  /** Sends a command to an MQTT lock over `cmd` and waits for its `cmd/result` (code `timeout` if none comes). */
  command(lockId: string, request: CommandRequest, options?: { timeoutMs?: number }): Promise<CommandResult>;
  health(): Health;
  /** Outbox size now. */
  outbox(): { items: number; bytes: number };
  /**
   * One BLE round now (scan, then per lock: state, time, reports, actions); null when BLE is off; rejects with a
   * BleUnavailableError while the adapter is unavailable.
   */
  bleRound(): Promise<{ locks: string[] }> | null;
  /** Graceful stop: refuses new work, finishes the upload in flight, closes the broker and the database. */
  stop(): Promise<void>;
}

/**
 * Starts the bridge daemon, a courier between locks and the cloud (docs/design.md section 7): broker, change feed,
 * signed state and time relays, outbox and uploader of sealed reports, remote actions, vendor connections, Home
 * Assistant, BLE and the metrics endpoint, wired as small extensions around one SQLite database
 * (`<dataDir>/bridge.db`). Resolves once the broker and the HTTP endpoint listen; the cloud may still be unreachable
 * then (locks are served regardless).
 */
export async function startBridge(
  config: BridgeConfig | BridgeConfigInit,
  options: BridgeOptions = {},
): Promise<RunningBridge> {
  const settings = parseBridgeConfig(config);
  const clock: Clock = options.clock ?? { now: () => Date.now() };
  const random = options.random ?? Math.random;
  const logger = createLogger(settings.log.level, options.logStream);
  const metrics = new BridgeMetrics();
  const startedAt = clock.now();
  const link = new CloudLink(settings.cloud.url, () => clock.now());
  const topics = new Topics(settings.topicPrefix);
  const bridgeId = settings.cloud.bridgeId;
  const cleanup: Array<() => unknown> = [];
  const backoff = () => new Backoff(settings.cloud.backoffInitialMs, settings.cloud.backoffMaxMs, random);
  let draining = false;
  let started = false;

  try {
    // Queued lock reports, the locks' keys and signed states: for the bridge's user only (review 12.2).
    const onModeNarrowed = (fix: ModeFix) =>
      logger.warn(fix, "narrowed the mode of a data file other local users could read");
    ensurePrivateDir(settings.dataDir, onModeNarrowed);
    const dbPath = join(settings.dataDir, "bridge.db");
    const db = openDatabase(dbPath, {
      synchronous: settings.outbox.synchronous,
      migrations: BRIDGE_MIGRATIONS,
      onModeNarrowed,
    });
    cleanup.unshift(() => db.close());
    const batcher = new WriteBatcher(db, settings.outbox.synchronous === "full" ? new WalSync(dbPath) : null);
    const registry = new LockRegistry(db, batcher);
    const outbox = new Outbox(db, batcher, settings.outbox, clock, metrics, logger.child({ part: "outbox" }));
    metrics.gauge("locks_known", "Locks the bridge knows (assigned or seen)", () => registry.size);
    metrics.gauge("locks_online", "Locks online now", () => registry.countOnline());
    metrics.gauge("lock_keys_known", "Locks whose public keys the bridge holds (attached to reports)", () =>
      registry.countKeys(),
    );

    // The external broker's client (mqtt.js) is loaded only when it is used.
    const broker: LockBroker =
      settings.mqtt.broker === "embedded"
        ? new EmbeddedBroker({
            host: settings.mqtt.host,
            port: settings.mqtt.port,
            wsPort: settings.mqtt.wsPort,
            dataDir: settings.dataDir,
            siteSecret: settings.mqtt.siteSecret,
            accounts: settings.mqtt.accounts,
            topics,
            discoveryPrefix: settings.homeassistant.discoveryPrefix,
            isKnownLock: (id) => registry.get(id) !== undefined,
            metrics,
            logger: logger.child({ part: "broker" }),
          })
        : new (await import("./broker/external.js")).ExternalBroker({
            url: settings.mqtt.url!,
            username: settings.mqtt.username,
            password: settings.mqtt.password,
            bridgeId,
            keepaliveSeconds: settings.mqtt.keepaliveSeconds,
            topics,
            discoveryPrefix: settings.homeassistant.discoveryPrefix,
            metrics,
            logger: logger.child({ part: "broker" }),
          });
    const commands = new CommandChannel(broker, topics, metrics);
    const connected = new Set<string>();
    const reachable = (lockId: string) =>
      connected.has(lockId) || (broker.kind === "external" && registry.get(lockId)?.online === true);
    const activity = new LockActivity(() => clock.now());
    const messages = new LockMessages(
      outbox,
      registry,
      commands,
      clock,
      metrics,
      logger.child({ part: "locks" }),
      activity,
    );
    const probe = new LockProbe(
      (lockId, request) => commands.send(lockId, request, 5_000),
      registry,
      activity,
      logger.child({ part: "locks" }),
    );
    // Assigned once everything health() reads exists (Home Assistant's bridge device shows part of it).
    let health: () => Health = () => ({ ok: false, status: "starting" });
    const homeAssistant = settings.homeassistant.enabled
      ? new HomeAssistant(
          broker,
          registry,
          topics,
          settings.homeassistant.discoveryPrefix,
          bridgeId,
          BRIDGE_VERSION,
          logger.child({ part: "homeassistant" }),
          () => {
            const h = health() as Health & Partial<BridgeHealthParts>;
            return {
              status: String(h.status),
              cloud_reachable: h.cloud?.reachable === true,
              locks_online: registry.countOnline(),
              locks_known: registry.size,
              outbox_items: outbox.size.items,
              ble: h.ble?.state ?? null,
              degraded: (h.degraded ?? []).map((d) => d.check),
            };
          },
        )
      : null;

    // Set once the cloud client exists (after the broker starts): a lock may connect before that.
    let stateRelay: StateRelay | null = null;
    let timeRelay: TimeRelay | null = null;
    const handler: InboundHandler = {
      lockMessage: async (lockId, kind, payload) => {
        if (kind !== "time/request") return messages.handle(lockId, kind, payload);
        metrics.messagesReceived.labels(kind).inc();
        // Not durable and not awaited: a time answer is only good for this nonce, within 5 s.
        timeRelay?.request(lockId, payload);
      },
      homeAssistantStatus: (payload) => homeAssistant?.onStatus(payload),
      lockConnection: (lockId, isConnected) => {
        if (isConnected) {
          connected.add(lockId);
          void registry.markSeen(lockId, "mqtt", clock.now()).catch(() => {});
          activity.seen(lockId);
          stateRelay?.fetch([lockId]);
          // A lock with a stored session gets commands at once; a new one only once it subscribes (below).
          probe.probe(lockId);
        } else connected.delete(lockId);
      },
      lockSubscribed: (lockId) => probe.probe(lockId),
    };
    cleanup.unshift(() => broker.close());
    await broker.start(handler);
    await broker.publish(topics.bridgeStatus(bridgeId), "online", { qos: 1, retain: true }).catch(() => {});

    const cloud = new CloudClient({
      url: settings.cloud.url,
      bridgeId,
      secret: settings.cloud.secret,
      timeoutMs: settings.cloud.requestTimeoutSeconds * 1000,
      logger,
      link,
    });
    const vendors = new VendorConnections(
      db,
      cloud,
      settings.vendorAccounts,
      registry,
      backoff(),
      metrics,
      logger.child({ part: "vendors" }),
    );
    stateRelay = new StateRelay(
      db,
      cloud,
      broker,
      topics,
      registry,
      backoff(),
      { refreshMs: 3_600_000, concurrency: 4 },
      metrics,
      logger.child({ part: "relay" }),
      () => clock.now(),
    );
    timeRelay = new TimeRelay(
      cloud,
      broker,
      topics,
      metrics,
      logger.child({ part: "relay" }),
      Math.min(options.timeRelayCapMs ?? MAX_TIME_RTT_MS, MAX_TIME_RTT_MS),
    );
    const states = stateRelay;
    const times = timeRelay;
    // An external broker cannot tell the bridge of connections: a lock's "online" status stands for one.
    if (broker.kind === "external")
      registry.on("online", (lockId) => {
        states.fetch([lockId]);
        probe.probe(lockId);
      });
    const outage = new OutageReport(link, () => outbox.size.items, logger.child({ part: "uploader" }));
    const ackRefetch = new AckRefetch(
      10_000,
      () => performance.now(),
      (lockIds) => states.fetch(lockIds),
    );
    const uploader = new Uploader(
      outbox,
      cloud,
      backoff(),
      { batchSize: settings.upload.batchSize, maxBatchBytes: settings.upload.maxBatchBytes },
      metrics,
      logger.child({ part: "uploader" }),
      () => clock.now(),
      {
        isUploadable: (lockId) => registry.get(lockId)?.assigned === true,
        keysOf: (lockId) => registry.get(lockId)?.keys ?? null,
        accepted: (lockIds) => ackRefetch.accepted(lockIds),
        refused: (lockId, verdict) => activity.refused(lockId, verdict),
        uploaded: (n) => outage.uploaded(n),
        idle: () => outage.idle(),
      },
    );
    let ble: BleGateway | null = null;
    const actions = new ActionRunner(
      db,
      cloud,
      registry,
      {
        reachable,
        mqtt: (lockId, request) => commands.send(lockId, request, 10_000),
        blePending: () => ble?.wake(),
      },
      backoff,
      metrics,
      logger.child({ part: "actions" }),
      () => clock.now(),
    );
    const feed = new FeedFollower(
      db,
      cloud,
      backoff(),
      { waitSeconds: settings.cloud.pollWaitSeconds, limit: 500 },
      (applied) => {
        registry.reload(applied.locks);
        if (applied.states || applied.locks.size > 0) states.refreshAll();
        vendors.schedule();
        uploader.notify();
        if (applied.actions.size > 0) actions.schedule();
      },
      metrics,
      logger.child({ part: "feed" }),
      () => clock.now(),
    );
    const heartbeat = new HeartbeatLoop(
      cloud,
      settings.cloud.heartbeatSeconds * 1000,
      () => registry.countOnline(),
      metrics,
      logger.child({ part: "heartbeat" }),
    );

    // No usable adapter is no reason to stop serving MQTT locks: the adapter is tried again with backoff, and shown
    // as unavailable in /healthz, the status page and latchkey_bridge_ble_available meanwhile.
    let bleAdapter: BleAdapter | null = null;
    if (settings.ble.enabled) {
      const given = options.noble;
      const load = given ? async () => given : (options.loadNoble ?? (() => loadHardwareNoble()));
      const adapter = new BleAdapter(
        load,
        new Backoff(options.bleRetryInitialMs ?? 1000, settings.ble.retryMaxSeconds * 1000, random),
        metrics,
        logger.child({ part: "ble" }),
        () => clock.now(),
      );
      bleAdapter = adapter;
      adapter.once("available", (noble) => {
        if (draining) return;
        ble = new BleGateway(
          noble,
          db,
          registry,
          messages,
          cloud,
          states,
          actions,
          settings.ble,
          metrics,
          logger.child({ part: "ble" }),
          (signal) => adapter.whenAvailable(signal),
        );
        ble.start();
      });
    }

    // Housekeeping: outbox age limit, actions long expired. Hourly, and once now.
    const housekeeping = () => {
      try {
        outbox.expire();
        actions.prune();
      } catch (e) {
        logger.error({ err: (e as Error).message }, "housekeeping failed");
      }
    };
    housekeeping();
    const housekeepingTimer = setInterval(housekeeping, 3_600_000);
    housekeepingTimer.unref();

    const degradedNow = () =>
      degradations({
        now: clock.now(),
        cloud: link.status,
        cloudUnreachableSeconds: settings.health.cloudUnreachableSeconds,
        outbox: outbox.status(),
        outboxPercent: settings.health.outboxPercent,
        ble: bleAdapter?.status ?? null,
      });
    health = (): Health => {
      const degraded = degradedNow();
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
        bridgeId,
        broker: { kind: broker.kind, url: broker.url, connected: broker.connected },
        cloud: link.status,
        feed: feed.status,
        upload: uploader.status,
        outbox: outbox.size,
        locks: { known: registry.size, online: registry.countOnline(), keys: registry.countKeys() },
        relay: { states: states.status, time: times.status },
        actions: actions.status,
        ble: bleAdapter ? bleAdapter.status : null,
        memory: memoryMb(),
      };
    };
    const site = (): SiteStatus => {
      const h = health() as Health & BridgeHealthParts;
      return {
        bridge: { id: bridgeId, version: BRIDGE_VERSION, status: String(h.status), degraded: h.degraded, startedAt },
        broker: { kind: broker.kind, url: broker.url, connected: broker.connected },
        cloud: link.status,
        feed: feed.status,
        upload: { reportsRefused: uploader.status.reportsRefused },
        outbox: outbox.status(),
        ble: bleAdapter ? bleAdapter.status : null,
        actions: { ...actions.status, recent: actions.recent() },
        vendorConnections: vendors.list(),
      };
    };
    const lockRows = (): LockStatus[] => {
      activity.retain((id) => registry.get(id) !== undefined);
      const held = states.keptVersions();
      return [...registry.all()]
        .map((lock) => lockStatus(lock, activity, held.get(lock.lockId)))
        .sort((a, b) => (a.lockId < b.lockId ? -1 : 1));
    };
    const statusPage = settings.status.enabled
      ? new StatusPage(
          new StatusStream({ site, locks: lockRows, now: () => clock.now() }),
          settings.status.password ? new StatusLogin(settings.status.username, settings.status.password) : null,
          metrics,
        )
      : null;
    const ops = new OpsServer(metrics, health, statusPage);
    let metricsUrl: string | null = null;
    if (settings.metrics.enabled) {
      metricsUrl = await ops.listen(settings.metrics.host, settings.metrics.port);
      cleanup.unshift(() => ops.close());
    }

    feed.start();
    uploader.start();
    vendors.start();
    states.start();
    actions.schedule();
    heartbeat.start();
    bleAdapter?.start();
    homeAssistant?.start();
    if (homeAssistant) {
      link.on("change", () => homeAssistant.bridgeStateSoon());
      bleAdapter?.on("change", () => homeAssistant.bridgeStateSoon());
    }
    started = true;

    const ready = feed.whenCaughtUp();
    ready.then(
      () => logger.info({ cursor: feed.cursor }, "change feed caught up"),
      () => {},
    );
    logger.info(
      {
        bridgeId,
        version: BRIDGE_VERSION,
        mqttUrl: broker.url,
        wsUrl: broker.wsUrl,
        metricsUrl,
        statusPage: statusPage && metricsUrl ? `${metricsUrl}/` : null,
        dataDir: settings.dataDir,
      },
      "bridge started",
    );

    let stopping: Promise<void> | null = null;
    const stop = async () => {
      draining = true;
      logger.info("bridge stopping: draining in-flight work");
      clearInterval(housekeepingTimer);
      const upload = uploader.stop();
      await broker.stopAccepting();
      ackRefetch.stop();
      probe.stop();
      homeAssistant?.stop();
      commands.close();
      times.stop();
      await Promise.all([
        feed.stop(),
        vendors.stop(),
        heartbeat.stop(),
        bleAdapter?.stop(),
        ble?.stop(),
        states.stop(),
        actions.stop(),
      ]);
      // Best effort and bounded: an unreachable external broker must not hold the shutdown (its will says offline).
      if (broker.connected)
        await Promise.race([
          broker.publish(topics.bridgeStatus(bridgeId), "offline", { qos: 1, retain: true }).catch(() => {}),
          new Promise((resolve) => setTimeout(resolve, 2000).unref()),
        ]);
      await broker.close();
      await batcher.drain();
      await upload;
      batcher.close();
      await ops.close();
      db.close();
      logger.info({ outbox: outbox.size }, "bridge stopped");
    };

    return {
      bridgeId,
      config: settings,
      mqttUrl: broker.url,
      wsUrl: broker.wsUrl,
      metricsUrl,
      ready,
      logger,
      command: (lockId, request, o) => commands.send(lockId, request, o?.timeoutMs ?? 10_000),
      health,
      outbox: () => outbox.size,
      bleRound: () => {
        if (!bleAdapter) return null;
        if (!ble || !bleAdapter.ready)
          return Promise.reject(
            new BleUnavailableError(
              `Bluetooth LE is unavailable: ${bleAdapter.status.reason ?? bleAdapter.status.state}`,
            ),
          );
        return ble.round();
      },
      stop: () => {
        stopping ??= stop();
        return stopping;
      },
    };
  } catch (e) {
    for (const step of cleanup) {
      try {
        await step();
      } catch {
        // best effort: the original error is what matters
      }
    }
    throw e;
  }
}
