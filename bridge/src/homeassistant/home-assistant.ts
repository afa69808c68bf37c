import type { Topics } from "@latchkey/protocol";
import type { LockBroker } from "../broker/transport.js";
import type { LockRegistry } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import {
  type BridgeHaState,
  bridgeDiscovery,
  bridgeStateTopic,
  discoveryPayloads,
  haTopics,
  lockStateText,
} from "./discovery.js";

/** How often the bridge device's state is looked at (published only when it changed). */
const BRIDGE_STATE_MS = 10_000;

/**
 * Publishes Home Assistant discovery (retained) for the bridge itself and for every lock the bridge reaches, and their
 * state (retained, so Home Assistant has it after its own restart): again for all whenever `homeassistant/status`
 * says `online`. A lock's state is published as soon as the bridge knows it (the lock's `ping` at connect, or its
 * events), not only after its first event.
 */
export class HomeAssistant {
  private lastBridgeState: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;

  constructor(
    private readonly broker: LockBroker,
    private readonly registry: LockRegistry,
    private readonly topics: Topics,
    private readonly discoveryPrefix: string,
    private readonly bridgeId: string,
    private readonly version: string,
    private readonly logger: Logger,
    private readonly bridgeState: () => BridgeHaState,
  ) {
    registry.on("seen", (lockId) => this.announce(lockId));
    registry.on("state", (lockId) => this.state(lockId));
    registry.on("online", () => this.bridgeStateSoon());
    registry.on("offline", () => this.bridgeStateSoon());
  }

  /** Discovery and state of the bridge device and of every lock seen so far; then keeps the bridge's state current. */
  start(): void {
    this.announceAll();
    this.timer ??= setInterval(() => this.publishBridgeState(false), BRIDGE_STATE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = this.soon = null;
  }

  /** Something the bridge device shows changed: published shortly (a burst of locks connecting costs one message). */
  bridgeStateSoon(): void {
    if (this.soon || !this.timer) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      this.publishBridgeState(false);
    }, 250);
    this.soon.unref();
  }

  announceAll(): void {
    for (const [topic, config] of Object.entries(
      bridgeDiscovery(this.topics, this.discoveryPrefix, this.bridgeId, this.version),
    ))
      this.publish(topic, config);
    this.publishBridgeState(true);
    for (const lock of this.registry.all()) if (lock.transport) this.announce(lock.lockId);
  }

  onStatus(payload: Buffer): void {
    if (payload.toString("utf8").trim() === "online") {
      this.logger.info("Home Assistant is online: publishing discovery");
      this.announceAll();
    }
  }

  announce(lockId: string): void {
    const t = haTopics(this.topics, this.discoveryPrefix, lockId);
    const payloads = discoveryPayloads(this.topics, this.discoveryPrefix, this.bridgeId, lockId, this.version);
    // The lock entity of earlier versions offered lock / unlock buttons that could do nothing: removed.
    this.publish(t.retiredLockConfig, "");
    this.publish(t.stateConfig, payloads.state);
    this.publish(t.batteryConfig, payloads.battery);
    this.state(lockId);
  }

  state(lockId: string): void {
    const lock = this.registry.get(lockId);
    if (!lock?.transport) return;
    const t = haTopics(this.topics, this.discoveryPrefix, lockId);
    const text = lockStateText(lock);
    if (text) this.publish(t.state, text);
    if (lock.battery) this.publish(t.battery, JSON.stringify(lock.battery));
  }

  /** The bridge device's state, when it changed (or always, after discovery). */
  publishBridgeState(always: boolean): void {
    const payload = JSON.stringify(this.bridgeState());
    if (!always && payload === this.lastBridgeState) return;
    this.lastBridgeState = payload;
    this.publish(bridgeStateTopic(this.topics, this.bridgeId), payload);
  }

  private publish(topic: string, payload: string): void {
    this.broker.publish(topic, payload, { qos: 1, retain: true }).catch((e: Error) => {
      this.logger.debug({ topic, err: e.message }, "could not publish Home Assistant discovery/state");
    });
  }
}
