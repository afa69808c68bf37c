import { createHash } from "node:crypto";
import {
  decodeCommandResult,
  decodeEvent,
  decodeStatus,
  decodeTelemetry,
  isProtocolError,
  type LockEvent,
  type LockTopicKind,
  type Telemetry,
  toHex,
} from "@latchkey/protocol";
import type { CommandChannel } from "../commands/command-channel.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { Outbox } from "../outbox/outbox.js";
import { SyncVersionAlerts } from "../sync/version-alerts.js";
import type { TrustedTime } from "../time/trusted-time.js";
import type { LockRegistry, LockTransport } from "./registry.js";

/** A message whose payload names another lock than the one that sent it: refused like an ACL violation. */
export class LockMismatchError extends Error {
  readonly code = "lock_mismatch";
}

export type ReportedVersionListener = (lockId: string, v: number, aboveDesired: boolean) => void;

/** The ingest JSON of an event (docs/bridge-api.md), from the decoded lock message. */
export function eventItem(lockId: string, e: LockEvent): string {
  return JSON.stringify({
    id: toHex(e.id),
    lockId,
    seq: e.seq,
    ts: e.ts,
    type: e.type,
    key: e.key ? toHex(e.key) : undefined,
    code: e.code,
    dropped: e.dropped,
    v: e.v,
  });
}

/**
 * Telemetry carries no id of its own; the bridge names it by a hash of the lock and the message, so a reading that a
 * lock publishes twice (no PUBACK before a reconnect) is kept once by the cloud.
 */
export const telemetryId = (lockId: string, payload: Uint8Array): string =>
  createHash("sha256")
    .update("latchkey-telemetry-v1\0")
    .update(lockId)
    .update("\0")
    .update(payload)
    .digest("hex")
    .slice(0, 32);

export function telemetryItem(lockId: string, id: string, t: Telemetry): string {
  return JSON.stringify({ id, lockId, ts: t.ts, level: t.level, mv: t.mv, state: t.state, v: t.v, dropped: t.dropped });
}

/**
 * Handles what locks send (over MQTT; the BLE gateway feeds events through `event` too): events and telemetry go to
 * the outbox and resolve once stored; status becomes presence; command results go to the waiting command.
 * A message that does not decode is acknowledged and dropped with a log line and a metric: refusing it would make the
 * lock re-send it forever and block everything behind it.
 */
export class LockMessages {
  private readonly counters = new Map<string, { inc(): void }>();
  /** Counter children bound once per kind: no label lookup per message. */
  private received(kind: string): { inc(): void } {
    let counter = this.counters.get(kind);
    if (!counter) {
      counter = this.metrics.messagesReceived.labels(kind);
      this.counters.set(kind, counter);
    }
    return counter;
  }

  constructor(
    private readonly outbox: Outbox,
    private readonly registry: LockRegistry,
    private readonly commands: CommandChannel,
    private readonly time: TrustedTime,
    private readonly onReported: ReportedVersionListener,
    private readonly versionAlerts: SyncVersionAlerts,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
  ) {}

  async handle(
    lockId: string,
    kind: LockTopicKind,
    payload: Uint8Array,
    transport: LockTransport = "mqtt",
  ): Promise<void> {
    this.received(kind).inc();
    try {
      switch (kind) {
        case "events":
          return await this.event(lockId, decodeEvent(payload));
        case "telemetry":
          return await this.telemetry(lockId, payload, decodeTelemetry(payload));
        case "status":
          return await this.status(lockId, decodeStatus(payload) === "online", transport);
        case "cmd/result":
          this.commands.resolve(lockId, decodeCommandResult(payload));
          return;
        default:
          return;
      }
    } catch (e) {
      if (!isProtocolError(e)) throw e;
      this.metrics.messagesRejected.inc({ reason: e.code });
      this.logger.warn({ lockId, kind, code: e.code, err: e.message }, "dropped a lock message that does not decode");
    }
  }

  async event(lockId: string, event: LockEvent): Promise<void> {
    if (event.lock !== lockId) throw this.mismatch(lockId, event.lock, "event");
    const id = toHex(event.id);
    await this.outbox.add({ kind: "event", lockId, itemId: id, body: eventItem(lockId, event) });
    if (event.type === "sync_applied" && event.v !== undefined) await this.versionReported(lockId, event.v);
    if (event.type === "unlocked" || event.type === "locked" || event.type === "jammed")
      await this.registry.setLockState(lockId, event.type);
  }

  private async telemetry(lockId: string, payload: Uint8Array, t: Telemetry): Promise<void> {
    if (t.lock !== lockId) throw this.mismatch(lockId, t.lock, "telemetry");
    const id = telemetryId(lockId, payload);
    await this.outbox.add({ kind: "telemetry", lockId, itemId: id, body: telemetryItem(lockId, id, t) });
    await this.registry.setBattery(lockId, { level: t.level, mv: t.mv, state: t.state });
    if (t.v !== undefined) await this.versionReported(lockId, t.v);
  }

  async status(lockId: string, online: boolean, transport: LockTransport): Promise<void> {
    const ts = this.time.nowSeconds();
    // Presence is a reading of now, and a will cannot be sent again: when the outbox is full the status still goes
    // through the broker (retained) and only its upload is skipped; the next status corrects the cloud.
    const body = JSON.stringify({ lockId, online, ts });
    await this.outbox.add({ kind: "presence", lockId, itemId: null, body }, { ifFull: "skip" });
    if (online) await this.registry.markSeen(lockId, transport, this.time.now());
    await this.registry.setOnline(lockId, online);
  }

  /**
   * A lock's sync version (its telemetry, a `sync_applied` event, a BLE `ping`). An impossible one is neither recorded
   * nor followed, only alerted (docs/mqtt.md, "Sync versions"): recording it would stop the re-sends, and following it
   * could push the desired version past the safe integers, after which the lock would refuse every sync.
   */
  async versionReported(lockId: string, v: number): Promise<void> {
    const desired = this.registry.get(lockId)?.desiredV ?? 0;
    if (SyncVersionAlerts.implausibleReport(desired, v)) {
      this.versionAlerts.raise(lockId, "implausible_report", desired, v);
      return;
    }
    this.versionAlerts.clear(lockId);
    const above = await this.registry.setReported(lockId, v);
    this.onReported(lockId, v, above);
  }

  private mismatch(lockId: string, named: string, what: string): LockMismatchError {
    this.metrics.aclDenied.inc({ action: "publish" });
    this.logger.warn({ lockId, named }, `refused a ${what} naming another lock`);
    return new LockMismatchError(`${what} from ${lockId} names lock ${named}`);
  }
}
