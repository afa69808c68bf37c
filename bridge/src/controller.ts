import { join } from "node:path";
import { type Clock, type CommandResult, Topics } from "@latchkey/protocol";
import { Backoff } from "@latchkey/runtime";
import type { Noble } from "./ble/noble-loader.js";
import { EmbeddedBroker } from "./broker/embedded.js";
import type { LockBroker } from "./broker/transport.js";
import { CloudClient } from "./cloud/client.js";
import type { HttpExchange } from "./cloud/http-request.js";
import { CloudLink } from "./cloud/link.js";
import { CommandChannel, type CommandRequest } from "./commands/command-channel.js";
import type { BridgeConfig } from "./config/schema.js";
import { type BridgeConfigInit, parseBridgeConfig } from "./config/validate.js";
import { ActionsExtension } from "./extensions/actions.js";
import { BleExtension } from "./extensions/ble.js";
import { BrokerExtension } from "./extensions/broker.js";
import { EventBus } from "./extensions/events.js";
import type { BridgeContext, Extension, LoopExtension } from "./extensions/extension.js";
import { feedExtension } from "./extensions/feed.js";
import { heartbeatExtension } from "./extensions/heartbeat.js";
import { HomeAssistantExtension } from "./extensions/home-assistant.js";
import { HousekeepingExtension } from "./extensions/housekeeping.js";
import { LocksExtension } from "./extensions/locks.js";
import { BridgeStatus, OpsExtension } from "./extensions/ops.js";
import { RelayExtension } from "./extensions/relay.js";
import { StoreExtension } from "./extensions/store.js";
import { UploaderExtension } from "./extensions/uploader.js";
import { vendorsExtension } from "./extensions/vendors.js";
import type { FeedFollower } from "./feed/feed-follower.js";
import { LockActivity } from "./locks/lock-activity.js";
import { LockMessages } from "./locks/lock-messages.js";
import { LockRegistry } from "./locks/registry.js";
import type { Health } from "./ops/http.js";
import { createLogger, type Logger } from "./ops/logger.js";
import { BridgeMetrics } from "./ops/metrics.js";
import { Outbox } from "./outbox/outbox.js";
import { openDatabase } from "./store/database.js";
import { ensurePrivateDir, type ModeFix } from "./store/private-files.js";
import { BRIDGE_MIGRATIONS } from "./store/schema.js";
import { WalSync } from "./store/wal-sync.js";
import { WriteBatcher } from "./store/write-batcher.js";
import { UploadBackpressure } from "./uploader/backpressure.js";
import { BRIDGE_VERSION } from "./version.js";

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
  /** How the bridge talks HTTP to the cloud (default node:http); tests wrap it to check the cloud's answers. */
  cloudExchange?: HttpExchange;
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
 * The context every extension is built from: the settings, the database (`<dataDir>/bridge.db`) and the services
 * that live in it, the broker and the cloud client, none of them started yet.
 */
async function createContext(settings: BridgeConfig, options: BridgeOptions, draining: () => boolean) {
  const clock: Clock = options.clock ?? { now: () => Date.now() };
  const random = options.random ?? Math.random;
  const logger = createLogger(settings.log.level, options.logStream);
  const metrics = new BridgeMetrics();
  const topics = new Topics(settings.topicPrefix);
  const bridgeId = settings.cloud.bridgeId;
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
  try {
    const batcher = new WriteBatcher(db, settings.outbox.synchronous === "full" ? new WalSync(dbPath) : null);
    const registry = new LockRegistry(db, batcher);
    const outbox = new Outbox(db, batcher, settings.outbox, clock, metrics, logger.child({ part: "outbox" }));
    const backpressure = new UploadBackpressure(
      settings.upload.backpressureItems,
      () => outbox.count,
      metrics.uploadBackpressure,
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
    const activity = new LockActivity(() => clock.now());
    const messages = new LockMessages(
      outbox,
      registry,
      commands,
      clock,
      metrics,
      logger.child({ part: "locks" }),
      activity,
      backpressure,
    );
    const link = new CloudLink(settings.cloud.url, () => clock.now());
    const cloud = new CloudClient({
      url: settings.cloud.url,
      bridgeId,
      secret: settings.cloud.secret,
      timeoutMs: settings.cloud.requestTimeoutSeconds * 1000,
      logger,
      link,
      ...(options.cloudExchange ? { exchange: options.cloudExchange } : {}),
    });
    const events = new EventBus();
    link.on("change", () => events.emit("bridgeStateChanged"));
    const ctx: BridgeContext = {
      settings,
      bridgeId,
      logger,
      metrics,
      clock,
      random,
      backoff: () => new Backoff(settings.cloud.backoffInitialMs, settings.cloud.backoffMaxMs, random),
      events,
      topics,
      db,
      batcher,
      registry,
      activity,
      outbox,
      backpressure,
      broker,
      commands,
      messages,
      link,
      cloud,
      draining,
    };
    return ctx;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Starts the bridge daemon, a courier between locks and the cloud (docs/design.md section 7): a controller of
 * extensions (broker, change feed, signed state and time relays, outbox and uploader of sealed reports, remote
 * actions, vendor connections, Home Assistant, BLE and the metrics endpoint) around one SQLite database. The
 * extensions start in order and stop in reverse; one that fails to start stops those already started. Resolves once
 * the broker and the HTTP endpoint listen; the cloud may still be unreachable then (locks are served regardless).
 */
export async function startBridge(
  config: BridgeConfig | BridgeConfigInit,
  options: BridgeOptions = {},
): Promise<RunningBridge> {
  const settings = parseBridgeConfig(config);
  let draining = false;
  let started = false;
  const ctx = await createContext(settings, options, () => draining);
  const { logger } = ctx;

  // Every extension is built before any starts, so the bus has all its listeners when the first event comes.
  let built: Extension[];
  let feed: LoopExtension<FeedFollower>;
  let ble: BleExtension | null;
  let ops: OpsExtension;
  let status: BridgeStatus;
  const store = new StoreExtension(ctx);
  try {
    const locks = new LocksExtension(ctx);
    const relay = new RelayExtension(ctx, options.timeRelayCapMs);
    const vendors = vendorsExtension(ctx);
    const actions = new ActionsExtension(ctx, (lockId) => locks.reachable(lockId));
    feed = feedExtension(ctx);
    const heartbeat = heartbeatExtension(ctx);
    ble = settings.ble.enabled
      ? new BleExtension(ctx, { states: relay.states, actions: actions.runner }, options)
      : null;
    const uploader = new UploaderExtension(ctx);
    status = new BridgeStatus(
      ctx,
      {
        feed: feed.part,
        uploader: uploader.uploader,
        states: relay.states,
        times: relay.times,
        actions: actions.runner,
        vendors: vendors.part,
        ble: ble?.adapter ?? null,
      },
      () => started,
    );
    const health = () => status.health();
    const homeAssistant = settings.homeassistant.enabled ? new HomeAssistantExtension(ctx, health) : null;
    ops = new OpsExtension(ctx, status);
    // The order is what each relies on: the database outlives everything, /healthz answers (`draining`) until the
    // end, the broker outlives every part that publishes, and the uploader's last batch is in flight while the
    // others stop.
    built = [
      store,
      ops,
      new HousekeepingExtension(ctx, actions.runner),
      new BrokerExtension(ctx),
      relay,
      vendors,
      actions,
      feed,
      heartbeat,
      ...(ble ? [ble] : []),
      locks,
      ...(homeAssistant ? [homeAssistant] : []),
      uploader,
    ];
  } catch (e) {
    await store.stop().catch(() => {});
    throw e;
  }

  const running: Extension[] = [];
  try {
    for (const extension of built) {
      // Stopped too if its own start fails: it may hold what it opened before failing (a listener, a socket).
      running.push(extension);
      await extension.start();
    }
  } catch (e) {
    draining = true;
    await stopAll(running, logger);
    throw e;
  }
  started = true;

  const ready = feed.part.whenCaughtUp();
  ready.then(
    () => logger.info({ cursor: feed.part.cursor }, "change feed caught up"),
    () => {},
  );
  logger.info(
    {
      bridgeId: ctx.bridgeId,
      version: BRIDGE_VERSION,
      mqttUrl: ctx.broker.url,
      wsUrl: ctx.broker.wsUrl,
      metricsUrl: ops.url,
      statusPage: ops.statusPage && ops.url ? `${ops.url}/` : null,
      dataDir: settings.dataDir,
    },
    "bridge started",
  );

  let stopping: Promise<void> | null = null;
  const stop = async () => {
    draining = true;
    logger.info("bridge stopping: draining in-flight work");
    await stopAll(running, logger);
    logger.info({ outbox: ctx.outbox.size }, "bridge stopped");
  };

  return {
    bridgeId: ctx.bridgeId,
    config: settings,
    mqttUrl: ctx.broker.url,
    wsUrl: ctx.broker.wsUrl,
    metricsUrl: ops.url,
    ready,
    logger,
    command: (lockId, request, o) => ctx.commands.send(lockId, request, o?.timeoutMs ?? 10_000),
    health: () => status.health(),
    outbox: () => ctx.outbox.size,
    bleRound: () => ble?.round() ?? null,
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/**
 * Stops extensions in reverse order of start, after letting each (in the same order) refuse new work first, so
 * nothing new arrives while the others finish. A failing step is logged and the rest still stop.
 */
async function stopAll(running: Extension[], logger: Logger): Promise<void> {
  const reversed = [...running].reverse();
  for (const extension of reversed) {
    try {
      await extension.drain?.();
    } catch (e) {
      logger.error({ extension: extension.name, err: (e as Error).message }, "an extension failed to drain");
    }
  }
  for (const extension of reversed) {
    try {
      await extension.stop();
    } catch (e) {
      logger.error({ extension: extension.name, err: (e as Error).message }, "an extension failed to stop");
    }
  }
  running.length = 0;
}
