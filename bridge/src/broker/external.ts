import type { LockTopicKind, Topics } from "@latchkey/protocol";
import mqtt, { type IClientOptions, type IPublishPacket, type ISubscriptionMap, type MqttClient } from "mqtt";
import { RefusedPayloadError } from "../locks/lock-messages.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { InboundHandler, LockBroker, PublishOptions } from "./transport.js";

export interface ExternalBrokerOptions {
  url: string;
  username?: string;
  password?: string;
  bridgeId: string;
  keepaliveSeconds: number;
  topics: Topics;
  discoveryPrefix: string;
  metrics: BridgeMetrics;
  logger: Logger;
}

/** How long the bridge stays away after refusing a message (outbox full) before it takes deliveries again. */
const REFUSAL_PAUSE_MS = 5_000;

/**
 * A lock's topics that must never hold a retained message (docs/mqtt.md: only `status` and `keys` are retained). A
 * Mosquitto acl_file cannot refuse the retain flag, so the bridge clears what a lock left there (review 12.12).
 */
const NEVER_RETAINED: ReadonlySet<string> = new Set<LockTopicKind>([
  "events",
  "telemetry",
  "cmd/result",
  "time/request",
]);

/**
 * The bridge as a client of an external broker (Mosquitto, EMQX). A persistent session (clean: false, QoS 1) keeps
 * messages for the bridge while it is away. mqtt.js sends the PUBACK of a message only after `handleMessage` calls
 * back, which the bridge does once the message is in its outbox. The broker's ACL (see the README) must keep each lock
 * to its own topics; the bridge additionally checks that a payload names the lock of its topic.
 */
export class ExternalBroker implements LockBroker {
  readonly kind = "external" as const;
  readonly wsUrl = null;
  private client: MqttClient | null = null;
  private closing = false;

  constructor(private readonly options: ExternalBrokerOptions) {}

  get url(): string {
    return this.options.url;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(handler: InboundHandler): Promise<void> {
    const { topics, logger } = this.options;
    const statusTopic = topics.bridgeStatus(this.options.bridgeId);
    const clientOptions: IClientOptions = {
      clientId: `latchkey-bridge-${this.options.bridgeId}`.slice(0, 128),
      clean: false,
      protocolVersion: 4,
      keepalive: this.options.keepaliveSeconds,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      resubscribe: true,
      will: { topic: statusTopic, payload: Buffer.from("offline"), qos: 1, retain: true },
    };
    if (this.options.username !== undefined) clientOptions.username = this.options.username;
    if (this.options.password !== undefined) clientOptions.password = this.options.password;
    const subscriptions = [
      topics.allLocks("events"),
      topics.allLocks("telemetry"),
      topics.allLocks("status"),
      // Retained: the broker shows the bridge every lock's keys at each subscription.
      topics.allLocks("keys"),
      topics.allLocks("cmd/result"),
      topics.allLocks("time/request"),
      `${this.options.discoveryPrefix}/status`,
    ];
    const client = mqtt.connect(this.options.url, { ...clientOptions, manualConnect: true });
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, callback: (error?: Error) => void) => {
      this.handle(handler, packet).then(
        () => callback(),
        (e: Error) => {
          if (e instanceof RefusedPayloadError) {
            // A message that can never be taken (it names another lock, or is no report): refusing it would only
            // bring it back after every reconnect, so it is acknowledged and dropped (already logged and counted).
            // Other undecodable payloads never get here: LockMessages acknowledges and drops them itself.
            logger.warn({ topic: packet.topic, err: e.message }, "dropped a message from the external broker");
            callback();
            return;
          }
          // Anything else is the bridge failing to store it (outbox full, database locked, disk full): the message
          // is fine and must not be lost, so it stays with the broker.
          logger.warn(
            { topic: packet.topic, err: e.message },
            "could not store a message: leaving it with the broker; reconnecting later",
          );
          // No PUBACK: disconnect so the broker keeps the message in our session and re-sends it after the pause.
          callback(e);
          this.pause();
        },
      );
    };
    let connections = 0;
    client.on("connect", () => {
      logger.info({ url: this.options.url }, "connected to the external mqtt broker");
      client.publish(statusTopic, "online", { qos: 1, retain: true });
      // With a persistent session mqtt.js sends no SUBSCRIBE after a reconnect (nor for a filter it already holds,
      // without `resubscribe`); the bridge sends one, because a SUBSCRIBE is what makes the broker show it, flagged
      // retained, whatever a lock retained meanwhile (review 12.12).
      if (++connections > 1) {
        // Only the topics that must hold nothing retained: the status topics' retained presence is not re-read.
        const filters = Object.fromEntries(
          [...NEVER_RETAINED].map((kind) => [topics.allLocks(kind as LockTopicKind), { qos: 1 as const }]),
        );
        // mqtt.js's own type cannot express the map with its `resubscribe` flag beside the filters.
        client.subscribe({ ...filters, resubscribe: true } as ISubscriptionMap, (err) => {
          if (err) logger.warn({ err: err.message }, "could not subscribe again after a reconnect");
        });
      }
    });
    client.on("error", (err) => logger.warn({ err: err.message }, "external mqtt broker error"));
    client.on("offline", () => logger.warn("external mqtt broker unreachable; retrying"));
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection to ${this.options.url} within 15 s`)), 15_000);
      client.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    client.connect();
    await connected;
    const granted = await client.subscribeAsync(subscriptions, { qos: 1 });
    for (const g of granted)
      if (g.qos === 128) throw new Error(`the broker refused the bridge's subscription to ${g.topic}`);
  }

  private async handle(handler: InboundHandler, packet: IPublishPacket): Promise<void> {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (packet.topic === `${this.options.discoveryPrefix}/status`) {
      handler.homeAssistantStatus(payload);
      return;
    }
    const parsed = this.options.topics.parse(packet.topic);
    if (parsed?.scope !== "lock") return;
    // The bridge's own publications; it does not subscribe to them, but a broker may still show them.
    if (parsed.kind === "cmd" || parsed.kind === "state" || parsed.kind === "time/answer") return;
    // An empty retained `keys` is a clear, not a message.
    if (parsed.kind === "keys" && payload.length === 0) return;
    if (NEVER_RETAINED.has(parsed.kind)) {
      // An empty payload is a retained message being cleared (the bridge's own clear comes back to it): nothing to take.
      if (payload.length === 0) return;
      if (packet.retain) {
        this.clearRetained(packet.topic, parsed.lockId, parsed.kind);
        return;
      }
    }
    await handler.lockMessage(parsed.lockId, parsed.kind, payload);
  }

  /**
   * A message flagged retained on a lock's events, telemetry or cmd/result topic is one a lock left at the broker, shown
   * again at each subscription: never taken as new (when it was published, the bridge's session got it live and
   * unflagged, and took it then). It is cleared with an empty retained payload so no later subscriber is shown it
   * (docs/mqtt.md, "Retained messages on an external broker").
   */
  private clearRetained(topic: string, lockId: string, kind: string): void {
    const { logger, metrics } = this.options;
    // Reported once the broker acknowledged the clear: from then on no subscriber is shown the message.
    this.client?.publish(topic, Buffer.alloc(0), { qos: 1, retain: true }, (err) => {
      if (err) {
        logger.warn({ lockId, kind, err: err.message }, "ignored a retained message a lock left; could not clear it");
        return;
      }
      metrics.retainedCleared.inc({ kind });
      logger.warn({ lockId, kind }, "ignored and cleared a retained message a lock left on its own topic");
    });
  }

  private pause(): void {
    const client = this.client;
    if (!client || this.closing) return;
    client.end(true, () => {
      setTimeout(() => {
        if (!this.closing) client.reconnect();
      }, REFUSAL_PAUSE_MS).unref();
    });
  }

  async publish(topic: string, payload: Uint8Array | string, options: PublishOptions): Promise<void> {
    const client = this.client;
    // Not queued while offline: a state is published again at the next fetch, and a queue would only grow.
    if (!client?.connected) throw new Error("not connected to the external broker");
    const body =
      typeof payload === "string" ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    await client.publishAsync(topic, body, { qos: options.qos, retain: options.retain ?? false });
  }

  async stopAccepting(): Promise<void> {
    // Deliveries the bridge has not acknowledged stay with the broker; nothing to do until close().
  }

  async close(): Promise<void> {
    this.closing = true;
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (client.connected) {
      await Promise.race([
        client
          .publishAsync(this.options.topics.bridgeStatus(this.options.bridgeId), "offline", { qos: 1, retain: true })
          .catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
    }
    // force: do not wait for in-flight acknowledgements from a broker that may be gone.
    await client.endAsync(true);
  }
}
