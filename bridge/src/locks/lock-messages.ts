import {
  type Clock,
  decodeCommandResult,
  decodeLockKeys,
  decodeStatus,
  isProtocolError,
  type LockKeysMessage,
  type LockTopicKind,
  type PeekedReport,
  peekReport,
} from "@latchkey/protocol";
import type { IngestPresence } from "@latchkey/protocol/contracts";
import type { CommandChannel } from "../commands/command-channel.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { Outbox } from "../outbox/outbox.js";
import type { UploadBackpressure } from "../uploader/backpressure.js";
import type { LockActivity } from "./lock-activity.js";
import type { LockRegistry, LockTransport } from "./registry.js";

/**
 * A message a lock may never send: refused like an ACL violation (embedded broker: no PUBACK, the client is
 * disconnected; external broker: acknowledged and dropped, since refusing would bring it back after every reconnect).
 */
export class RefusedPayloadError extends Error {
  constructor(
    readonly code: "lock_mismatch" | "not_a_report",
    message: string,
  ) {
    super(message);
    this.name = "RefusedPayloadError";
  }
}

/** A message whose payload names another lock than the one that sent it. */
export class LockMismatchError extends RefusedPayloadError {
  constructor(message: string) {
    super("lock_mismatch", message);
    this.name = "LockMismatchError";
  }
}

/**
 * Handles what locks send (over MQTT; the BLE gateway feeds pulled reports and keys through `report` and `keys`):
 * - `events`, `telemetry`: a sealed report (docs/reports.md). The bridge holds no report key, so it can neither check
 *   nor alter one: it peeks inside (`peekReport`: shape, and that it is this lock's) and stores the raw bytes in the
 *   outbox, resolving once they are committed; the cloud's verdict is the only one that counts. What the peek shows
 *   (lock state, battery) feeds Home Assistant, unauthenticated and documented as such (docs/mqtt.md).
 * - `keys`: the lock's public keys, kept with the lock and attached to its uploads.
 * - `status` becomes presence; `cmd/result` goes to the waiting command.
 * A status, keys or command result that does not decode is acknowledged and dropped with a log line and a metric:
 * refusing it would make the lock re-send it forever. A report that does not peek is refused (RefusedPayloadError).
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
    private readonly clock: Clock,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    /** The status page's record of each lock (last seen, events, the state it runs). */
    private readonly activity: LockActivity | null = null,
    /** Holds an MQTT report's PUBACK, once it is stored, while the upload is behind (docs/mqtt.md "Upload"). */
    private readonly backpressure: UploadBackpressure | null = null,
  ) {}

  /**
   * Resolves once the message is handled (a report: stored, and not held by the upload's backpressure: stored
   * already, only the PUBACK waits, and the embedded broker reads no more of this lock's connection meanwhile), which
   * is when the lock's PUBACK may go out.
   */
  handle(
    lockId: string,
    kind: LockTopicKind,
    payload: Uint8Array,
    transport: LockTransport = "mqtt",
  ): Promise<unknown> {
    // The hot path (every event and reading) without an async frame and a promise of its own: `report` is one.
    if (kind === "events" || kind === "telemetry") {
      this.received(kind).inc();
      const stored = this.report(lockId, payload);
      return this.backpressure ? stored.then(this.paced) : stored;
    }
    return this.other(lockId, kind, payload, transport);
  }

  /**
   * After an MQTT report was stored: the backpressure's shared promise while it holds PUBACKs (docs/mqtt.md "Upload").
   * Chained after `report` rather than awaited inside it, so that a held message keeps no peeked report alive: up to
   * 1,600 of them wait at once, for up to a second, and what they keep is what the garbage collector copies.
   */
  private readonly paced = (): Promise<void> | undefined => this.backpressure?.hold() ?? undefined;

  private async other(
    lockId: string,
    kind: LockTopicKind,
    payload: Uint8Array,
    transport: LockTransport,
  ): Promise<void> {
    this.received(kind).inc();
    this.activity?.seen(lockId);
    try {
      switch (kind) {
        case "keys":
          return await this.keys(lockId, decodeLockKeys(payload));
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

  /**
   * A sealed report of `lockId`: stored as is once it peeks as this lock's report, then shown to Home Assistant.
   * Answers what the peek read (unauthenticated). Throws RefusedPayloadError for bytes that are no report of this lock.
   * An MQTT report's PUBACK also waits for the upload's backpressure (`handle`); a BLE visit's report does not.
   */
  async report(lockId: string, bytes: Uint8Array): Promise<PeekedReport> {
    let peeked: PeekedReport;
    try {
      peeked = peekReport(bytes, lockId);
    } catch (e) {
      if (!isProtocolError(e)) throw e;
      if (e.code === "wrong_lock") throw this.mismatch(lockId, "report", e.message);
      this.metrics.messagesRejected.inc({ reason: "not_a_report" });
      this.logger.warn({ lockId, code: e.code, err: e.message }, "refused a lock message that is not a sealed report");
      throw new RefusedPayloadError("not_a_report", `a message from ${lockId} is not a sealed report: ${e.message}`);
    }
    await this.outbox.add(
      peeked.kind === "event"
        ? { kind: "event", lockId, report: bytes, eventType: peeked.event.type }
        : { kind: "telemetry", lockId, report: bytes },
    );
    this.activity?.report(lockId, peeked);
    // Display only: nothing here is vouched for (the bridge cannot check the MAC), and nothing is decided by it. Asked
    // of the registry only on a change: most events repeat the state the lock is in, and each call is a promise.
    const known = this.registry.get(lockId);
    if (peeked.kind === "event") {
      const type = peeked.event.type;
      if ((type === "unlocked" || type === "locked" || type === "jammed") && known?.lockState !== type)
        await this.registry.setLockState(lockId, type);
    } else {
      const t = peeked.telemetry;
      const b = known?.battery;
      if (b?.level !== t.level || b.mv !== t.mv || b.state !== t.state)
        await this.registry.setBattery(lockId, { level: t.level, mv: t.mv, state: t.state });
    }
    return peeked;
  }

  /** The lock answered `ping` with the `v` it runs (a BLE visit): shown on the status page, unauthenticated. */
  pinged(lockId: string, v: number): void {
    this.activity?.pinged(lockId, v);
  }

  /** The lock's public keys (retained `keys` message, or a BLE `ping`). */
  async keys(lockId: string, message: LockKeysMessage): Promise<void> {
    if (message.lock !== lockId) throw this.mismatch(lockId, "keys message", `it names lock ${message.lock}`);
    const changed = await this.registry.setKeys(lockId, { identity: message.identity, x25519: message.x25519 });
    if (changed) this.logger.warn({ lockId }, "a lock published other public keys than before (factory reset?)");
  }

  async status(lockId: string, online: boolean, transport: LockTransport): Promise<void> {
    const now = this.clock.now();
    // Presence is a reading of now, and a will cannot be sent again: when the outbox is full the status still goes
    // through the broker (retained) and only its upload is skipped; the next status corrects the cloud.
    const presence: IngestPresence = { lockId, online, ts: Math.floor(now / 1000) };
    const body = JSON.stringify(presence);
    await this.outbox.add({ kind: "presence", lockId, body }, { ifFull: "skip" });
    if (online) await this.registry.markSeen(lockId, transport, now);
    await this.registry.setOnline(lockId, online);
  }

  private mismatch(lockId: string, what: string, detail: string): LockMismatchError {
    this.metrics.aclDenied.inc({ action: "publish" });
    this.logger.warn({ lockId, err: detail }, `refused a ${what} naming another lock`);
    return new LockMismatchError(`a ${what} from ${lockId} names another lock: ${detail}`);
  }
}
