import type { Topics } from "@latchkey/protocol";
import type { LockBroker } from "../broker/transport.js";
import type { LockRegistry } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { TrustedTime } from "../time/trusted-time.js";
import type { DesiredState } from "./desired-state.js";

export interface PublisherOptions {
  resendSeconds: number;
  grants: boolean;
}

/**
 * Sends each MQTT lock its `sync` (QoS 1, not retained): when its desired version rises, when it comes online, and
 * when it subscribes to its `sync` topic, and again every `resendSeconds` while it has not reported the desired
 * version. Locks that are not connected get nothing (they get the latest version when they return), so nothing piles
 * up in the broker for them.
 */
export class SyncPublisher {
  private readonly lastSent = new Map<string, { v: number; at: number }>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly registry: LockRegistry,
    private readonly desired: DesiredState,
    private readonly broker: LockBroker,
    private readonly topics: Topics,
    private readonly time: TrustedTime,
    private readonly options: PublisherOptions,
    /** Whether a lock can receive a message now (connected to the broker). */
    private readonly reachable: (lockId: string) => boolean,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
  ) {
    registry.on("online", (lockId) => this.send(lockId, true));
    metrics.gauge("locks_sync_pending", "Locks that have not reported their desired sync version", () => {
      let n = 0;
      for (const l of registry.all()) if (l.desiredV > l.reportedV) n++;
      return n;
    });
  }

  start(): void {
    const period = Math.max(250, Math.min(this.options.resendSeconds * 1000, 5000));
    this.timer = setInterval(() => this.resendDue(), period);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The desired state of these locks changed. */
  changed(lockIds: Iterable<string>): void {
    for (const id of lockIds) this.send(id, false);
  }

  /** A lock reported version `v`. */
  reported(lockId: string, v: number, aboveDesired: boolean): void {
    if (aboveDesired) {
      // The lock runs a version the bridge never sent (the bridge lost its database): jump past it and re-send.
      this.registry.raiseDesired(lockId, v + 1);
      this.logger.warn({ lockId, reported: v }, "lock reported a sync version above the desired one; re-sending");
      this.send(lockId, true);
    }
  }

  private resendDue(): void {
    const now = Date.now();
    for (const lock of this.registry.all()) {
      if (lock.desiredV <= lock.reportedV || lock.transport === "ble" || !this.reachable(lock.lockId)) continue;
      const last = this.lastSent.get(lock.lockId);
      if (last && last.v === lock.desiredV && now - last.at < this.options.resendSeconds * 1000) continue;
      this.send(lock.lockId, true);
    }
  }

  /** Publishes the lock's current sync if it is reachable over MQTT. */
  send(lockId: string, evenIfSent: boolean): void {
    if (this.stopped) return;
    const lock = this.registry.get(lockId);
    if (!lock || lock.desiredV < 1 || lock.transport === "ble" || !this.reachable(lockId)) return;
    const last = this.lastSent.get(lockId);
    if (!evenIfSent && last?.v === lock.desiredV) return;
    const sync = this.desired.build(lockId, this.time.nowSeconds(), { grants: this.options.grants });
    if (!sync) return;
    this.lastSent.set(lockId, { v: sync.message.v, at: Date.now() });
    this.broker.publish(this.topics.lock(lockId, "sync"), sync.bytes, { qos: 1 }).then(
      () => this.metrics.syncSent.inc({ transport: "mqtt" }),
      (e: Error) => {
        this.lastSent.delete(lockId);
        if (!this.stopped) this.logger.warn({ lockId, err: e.message }, "could not publish sync");
      },
    );
  }
}
