import { join } from "node:path";
import { type Clock, type CommandResult, MAX_TIME_RTT_MS, Topics } from "@latchkey/protocol";
import { ActionRunner } from "./actions/action-runner.js";
import { BleGateway } from "./ble/ble-gateway.js";
import { loadHardwareNoble, type Noble } from "./ble/noble-loader.js";
import { EmbeddedBroker } from "./broker/embedded.js";
import type { InboundHandler, LockBroker } from "./broker/transport.js";
import { CloudClient } from "./cloud/client.js";
import { CommandChannel, type CommandRequest } from "./commands/command-channel.js";
import type { BridgeConfig } from "./config/schema.js";
import { type BridgeConfigInit, parseBridgeConfig } from "./config/validate.js";
import { FeedFollower } from "./feed/feed-follower.js";
import { HomeAssistant } from "./homeassistant/home-assistant.js";
import { LockMessages } from "./locks/lock-messages.js";
import { LockRegistry } from "./locks/registry.js";
import { HeartbeatLoop } from "./ops/heartbeat.js";
import { type Health, OpsServer } from "./ops/http.js";
import { createLogger, type Logger } from "./ops/logger.js";
import { BridgeMetrics } from "./ops/metrics.js";
import { Outbox } from "./outbox/outbox.js";
import { Backoff } from "./retry/backoff.js";
import { openDatabase } from "./store/database.js";
import { ensurePrivateDir, type ModeFix } from "./store/private-files.js";
import { BRIDGE_MIGRATIONS } from "./store/schema.js";
import { WalSync } from "./store/wal-sync.js";
import { WriteBatcher } from "./store/write-batcher.js";
import { AckRefetch } from "./trust/ack-refetch.js";
import { StateRelay } from "./trust/state-relay.js";
import { TimeRelay } from "./trust/time-relay.js";
import { Uploader } from "./uploader/uploader.js";
import { VendorConnections } from "./vendors/vendor-connections.js";
import { BRIDGE_VERSION } from "./version.js";

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
  /** One BLE round now (scan, then per lock: state, time, reports, actions); null when BLE is off. */
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
  const topics = new Topics(settings.topicPrefix);
  const bridgeId = settings.cloud.bridgeId;
  const cleanup: Array<() => unknown> = [];
  const backoff = () => new Backoff(settings.cloud.backoffInitialMs, settings.cloud.backoffMaxMs, random);

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
    const messages = new LockMessages(outbox, registry, commands, clock, metrics, logger.child({ part: "locks" }));
    const homeAssistant = settings.homeassistant.enabled
      ? new HomeAssistant(
          broker,
          registry,
          topics,
          settings.homeassistant.discoveryPrefix,
          bridgeId,
          BRIDGE_VERSION,
          logger.child({ part: "homeassistant" }),
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
          stateRelay?.fetch([lockId]);
        } else connected.delete(lockId);
      },
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
    if (broker.kind === "external") registry.on("online", (lockId) => states.fetch([lockId]));
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

    if (settings.ble.enabled) {
      const noble = options.noble ?? (await loadHardwareNoble());
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
      );
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

    let draining = false;
    let started = false;
    const health = (): Health => ({
      ok: started && !draining && broker.connected,
      status: draining ? "draining" : started ? "running" : "starting",
      version: BRIDGE_VERSION,
      bridgeId,
      broker: { kind: broker.kind, url: broker.url, connected: broker.connected },
      feed: feed.status,
      upload: uploader.status,
      outbox: outbox.size,
      locks: { known: registry.size, online: registry.countOnline(), keys: registry.countKeys() },
      relay: { states: states.status, time: times.status },
      actions: actions.status,
      memory: memoryMb(),
    });
    const ops = new OpsServer(metrics, health);
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
    ble?.start();
    homeAssistant?.announceAll();
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
      commands.close();
      times.stop();
      await Promise.all([feed.stop(), vendors.stop(), heartbeat.stop(), ble?.stop(), states.stop(), actions.stop()]);
      // Best effort and bounded: an unreachable external broker must not hold the shutdown (its will says offline).
      if (broker.connected)
        await Promise.race([
          broker.publish(topics.bridgeStatus(bridgeId), "offline", { qos: 1, retain: true }).catch(() => {}),
          new Promise((resolve) => setTimeout(resolve, 2000).unref()),
        ]);
      await broker.close();
      await batcher.drain();
      await upload;
      batcher.flush();
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
      bleRound: () => ble?.round() ?? null,
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
