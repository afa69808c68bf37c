import type { InboundHandler } from "../broker/transport.js";
import type { BridgeContext, Extension } from "./extension.js";

/**
 * The MQTT broker (embedded or external): lock messages go to the durable lock-message path, everything else onto
 * the event bus. Stopped after every part that publishes, so the bridge's `offline` is the last word.
 */
export class BrokerExtension implements Extension {
  readonly name = "broker";

  constructor(private readonly ctx: BridgeContext) {}

  async start(): Promise<void> {
    const { broker, events, messages, metrics, topics, bridgeId } = this.ctx;
    const timeRequest = async (lockId: string, payload: Buffer): Promise<void> => {
      metrics.messagesReceived.labels("time/request").inc();
      events.emit("timeRequest", lockId, payload);
    };
    const handler: InboundHandler = {
      // No async frame of its own around the lock-message path (a promise per event): only a time request's is.
      lockMessage: (lockId, kind, payload) =>
        kind !== "time/request" ? messages.handle(lockId, kind, payload) : timeRequest(lockId, payload),
      homeAssistantStatus: (payload) => events.emit("homeAssistantStatus", payload),
      lockConnection: (lockId, connected) => events.emit("lockConnection", lockId, connected),
      lockSubscribed: (lockId) => events.emit("lockSubscribed", lockId),
    };
    await broker.start(handler);
    await broker.publish(topics.bridgeStatus(bridgeId), "online", { qos: 1, retain: true }).catch(() => {});
  }

  /** No new connections or messages; those already open finish (status, PUBACKs in flight). */
  async drain(): Promise<void> {
    await this.ctx.broker.stopAccepting();
  }

  async stop(): Promise<void> {
    const { broker, topics, bridgeId } = this.ctx;
    // Best effort and bounded: an unreachable external broker must not hold the shutdown (its will says offline).
    if (broker.connected)
      await Promise.race([
        broker.publish(topics.bridgeStatus(bridgeId), "offline", { qos: 1, retain: true }).catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
    await broker.close();
  }
}
