import type { Clock, Topics } from "@latchkey/protocol";
import type { Backoff } from "@latchkey/runtime";
import type { LockBroker } from "../broker/transport.js";
import type { CloudClient } from "../cloud/client.js";
import type { CloudLink } from "../cloud/link.js";
import type { CommandChannel } from "../commands/command-channel.js";
import type { BridgeConfig } from "../config/schema.js";
import type { LockActivity } from "../locks/lock-activity.js";
import type { LockMessages } from "../locks/lock-messages.js";
import type { LockRegistry } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { Outbox } from "../outbox/outbox.js";
import type { Db } from "../store/database.js";
import type { WriteBatcher } from "../store/write-batcher.js";
import type { UploadBackpressure } from "../uploader/backpressure.js";
import type { EventBus } from "./events.js";

/**
 * One part of the bridge with a life of its own. The controller starts the extensions in order and stops them in
 * reverse, so each may rely on those before it running for as long as it runs.
 */
export interface Extension {
  readonly name: string;
  start(): Promise<void>;
  /**
   * Stops taking new work (connections, the next upload) before any extension stops, so nothing new arrives while the
   * others finish theirs. Optional: most extensions take no work of their own.
   */
  drain?(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * What every extension is built from: the settings, the shared services (the database and what lives in it, the
 * broker, the cloud client) and the event bus they talk over. Built once by the controller.
 */
export interface BridgeContext {
  readonly settings: BridgeConfig;
  readonly bridgeId: string;
  readonly logger: Logger;
  readonly metrics: BridgeMetrics;
  /** Time for timestamps and remote actions' expiry; timers still run in real time. */
  readonly clock: Clock;
  /** A fresh cloud backoff (the settings' delays, jitter from the injected RNG). */
  backoff(): Backoff;
  readonly random: () => number;
  readonly events: EventBus;
  readonly topics: Topics;
  readonly db: Db;
  readonly batcher: WriteBatcher;
  readonly registry: LockRegistry;
  readonly activity: LockActivity;
  readonly outbox: Outbox;
  /** Holds MQTT reports' PUBACKs while the upload is behind (`upload.backpressureItems`). */
  readonly backpressure: UploadBackpressure;
  readonly broker: LockBroker;
  readonly commands: CommandChannel;
  readonly messages: LockMessages;
  readonly link: CloudLink;
  readonly cloud: CloudClient;
  /** Whether the controller is stopping (parts refuse new work, health says `draining`). */
  readonly draining: () => boolean;
}

/** A part with a background loop (started at once, stopped by awaiting its loop) as an extension. */
export class LoopExtension<Part extends { start(): void; stop(): Promise<void> }> implements Extension {
  constructor(
    readonly name: string,
    readonly part: Part,
  ) {}

  async start(): Promise<void> {
    this.part.start();
  }

  async stop(): Promise<void> {
    await this.part.stop();
  }
}
