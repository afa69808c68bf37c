import type { Topics } from "@latchkey/protocol";
import type { LockBroker } from "../broker/transport.js";
import type { LockRegistry } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import { discoveryPayloads, haTopics, lockStateText } from "./discovery.js";

/**
 * Publishes Home Assistant discovery (retained) for every lock the bridge reaches, and its state (retained, so Home
 * Assistant has it after its own restart): again for all locks whenever `homeassistant/status` says `online`.
 */
export class HomeAssistant {
  constructor(
    private readonly broker: LockBroker,
    private readonly registry: LockRegistry,
    private readonly topics: Topics,
    private readonly discoveryPrefix: string,
    private readonly bridgeId: string,
    private readonly version: string,
    private readonly logger: Logger,
  ) {
    registry.on("seen", (lockId) => this.announce(lockId));
    registry.on("state", (lockId) => this.state(lockId));
  }

  /** Discovery and state for every lock seen so far. */
  announceAll(): void {
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
    this.publish(t.lockConfig, payloads.lock);
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

  private publish(topic: string, payload: string): void {
    this.broker.publish(topic, payload, { qos: 1, retain: true }).catch((e: Error) => {
      this.logger.debug({ topic, err: e.message }, "could not publish Home Assistant discovery/state");
    });
  }
}
