import type { LockTopicKind } from "@latchkey/protocol";

/** What the broker layer hands to the bridge: messages from locks and from Home Assistant. */
export interface InboundHandler {
  /**
   * A message a lock published on one of its own topics (already authorized). Resolves once it is durable; only then
   * is the lock's PUBACK sent. Rejects to refuse it (the lock keeps the message and retries).
   */
  lockMessage(lockId: string, kind: LockTopicKind, payload: Buffer): Promise<unknown>;
  /** `homeassistant/status` (Home Assistant's birth and last will). */
  homeAssistantStatus(payload: Buffer): void;
  /** A lock connected to (true) or left (false) the broker, when the broker can tell. */
  lockConnection?(lockId: string, connected: boolean): void;
  /** A lock subscribed to its `cmd` topic (embedded broker): commands reach it from now on. */
  lockSubscribed?(lockId: string): void;
}

export interface PublishOptions {
  qos: 0 | 1;
  retain?: boolean;
}

/** The MQTT side of the bridge: an embedded aedes broker or a connection to an external one. */
export interface LockBroker {
  readonly kind: "embedded" | "external";
  /** Where locks connect (embedded: the listener actually bound; external: the configured URL). */
  readonly url: string;
  readonly wsUrl: string | null;
  start(handler: InboundHandler): Promise<void>;
  publish(topic: string, payload: Uint8Array | string, options: PublishOptions): Promise<void>;
  /** Stops taking new connections and messages (drain starts). */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
  readonly connected: boolean;
}
