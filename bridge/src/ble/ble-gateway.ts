import { randomBytes } from "node:crypto";
import {
  type CommandResult,
  decodeEvent,
  deriveLockPassword,
  encodeCommand,
  encodeGatewayCommand,
  type GatewayCommand,
  isProtocolError,
  LOCK_SERVICE_UUID,
} from "@latchkey/protocol";
import type { LockMessages } from "../locks/lock-messages.js";
import type { LockRegistry } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import { sleep } from "../retry/sleep.js";
import type { Db } from "../store/database.js";
import type { DesiredState } from "../sync/desired-state.js";
import type { TrustedTime } from "../time/trusted-time.js";
import { GattSession } from "./gatt-session.js";
import type { Noble, Peripheral } from "./noble-loader.js";

export interface BleGatewayOptions {
  scanSeconds: number;
  pollSeconds: number;
  commandTimeoutSeconds: number;
  siteSecret: string;
}

/** Pulling stops after this many `events` round trips per session, so one chatty lock cannot starve the others. */
const MAX_EVENT_ROUNDS = 64;

/**
 * Serves locks of `ble` vendor connections over Bluetooth LE with noble (a real adapter, or a VirtualRadio's bindings
 * in tests). Each round: scan for the lock service, then per lock found connect, read its id, and
 * - `ping` for the sync version it runs; if below the desired one, `sync` (without grants: over the air the bridge
 *   cannot be sure who listens) — `sync` and `events` carry a MAC keyed by the lock's MQTT password;
 * - `events` with `after` = the highest seq already stored: new events go to the outbox first, and only the next
 *   `events` call (with the new `after`) lets the lock forget them.
 */
export class BleGateway {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly present = new Set<string>();
  private counter = 0;
  private readonly eventsAfter;
  private readonly setEventsAfter;

  constructor(
    private readonly noble: Noble,
    db: Db,
    private readonly registry: LockRegistry,
    private readonly desired: DesiredState,
    private readonly messages: LockMessages,
    private readonly time: TrustedTime,
    private readonly options: BleGatewayOptions,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
  ) {
    this.eventsAfter = db.prepare("SELECT ble_events_after AS after FROM locks WHERE lock_id = ?");
    this.setEventsAfter = db.prepare("UPDATE locks SET ble_events_after = MAX(ble_events_after, ?) WHERE lock_id = ?");
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.noble.stopScanningAsync().catch(() => {});
    await this.loop;
  }

  /** One round now (tests and `latchkey-bridge` call this through the loop). */
  async round(): Promise<{ locks: string[] }> {
    const peripherals = await this.scan();
    const found: string[] = [];
    for (const peripheral of peripherals) {
      if (this.abort.signal.aborted) break;
      const lockId = await this.serve(peripheral);
      if (lockId) found.push(lockId);
    }
    for (const lockId of [...this.present]) {
      if (!found.includes(lockId)) {
        this.present.delete(lockId);
        await this.messages.status(lockId, false, "ble").catch(() => {});
      }
    }
    return { locks: found };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    try {
      await this.poweredOn(signal);
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, "Bluetooth adapter did not power on; BLE gateway stopped");
      return;
    }
    while (!signal.aborted) {
      try {
        const { locks } = await this.round();
        this.logger.debug({ locks: locks.length }, "BLE round done");
      } catch (e) {
        if (!signal.aborted) this.logger.warn({ err: (e as Error).message }, "BLE round failed");
      }
      await sleep(this.options.pollSeconds * 1000, signal);
    }
  }

  private async poweredOn(signal: AbortSignal): Promise<void> {
    if ((this.noble as unknown as { state: string }).state === "poweredOn") return;
    await new Promise<void>((resolve, reject) => {
      const onState = (state: string) => {
        if (state === "poweredOn") {
          this.noble.removeListener("stateChange", onState);
          resolve();
        } else if (state === "unsupported" || state === "unauthorized") {
          this.noble.removeListener("stateChange", onState);
          reject(new Error(`Bluetooth adapter state: ${state}`));
        }
      };
      this.noble.on("stateChange", onState);
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  private async scan(): Promise<Peripheral[]> {
    const seen = new Map<string, Peripheral>();
    const onDiscover = (p: Peripheral) => {
      if (!seen.has(p.uuid)) seen.set(p.uuid, p);
    };
    this.noble.on("discover", onDiscover);
    try {
      await this.noble.startScanningAsync([LOCK_SERVICE_UUID], false);
      await sleep(this.options.scanSeconds * 1000, this.abort.signal);
    } finally {
      this.noble.removeListener("discover", onDiscover);
      await this.noble.stopScanningAsync().catch(() => {});
    }
    return [...seen.values()];
  }

  private nextId(): string {
    return `g${randomBytes(3).toString("hex")}.${++this.counter}`;
  }

  private async challenge(session: GattSession): Promise<Uint8Array> {
    const id = this.nextId();
    const result = await session.request(id, encodeCommand({ id, type: "challenge" }));
    if (!result.ok || !result.nonce) throw new Error(`challenge refused: ${result.code ?? "no nonce"}`);
    return result.nonce;
  }

  private async gateway(session: GattSession, cmd: GatewayCommand): Promise<CommandResult> {
    const nonce = await this.challenge(session);
    const password = deriveLockPassword(this.options.siteSecret, session.lockId);
    return session.request(cmd.id, encodeGatewayCommand(cmd, { lockId: session.lockId, nonce, password }));
  }

  /** One session with one peripheral; answers its lock id when it was served. */
  private async serve(peripheral: Peripheral): Promise<string | null> {
    let session: GattSession;
    try {
      session = await GattSession.open(peripheral, this.options.commandTimeoutSeconds * 1000);
    } catch (e) {
      this.metrics.bleRounds.inc({ result: "connect_failed" });
      this.logger.debug({ peripheral: peripheral.uuid, err: (e as Error).message }, "could not open a BLE session");
      return null;
    }
    const lockId = session.lockId;
    try {
      if (!this.present.has(lockId)) {
        this.present.add(lockId);
        await this.messages.status(lockId, true, "ble");
      }
      await this.syncLock(session);
      await this.pullEvents(session);
      this.metrics.bleRounds.inc({ result: "ok" });
      return lockId;
    } catch (e) {
      this.metrics.bleRounds.inc({ result: "failed" });
      this.logger.warn({ lockId, err: (e as Error).message }, "BLE session with a lock failed");
      return lockId;
    } finally {
      await session.close();
    }
  }

  private async syncLock(session: GattSession): Promise<void> {
    const lockId = session.lockId;
    const pingId = this.nextId();
    const ping = await session.request(pingId, encodeCommand({ id: pingId, type: "ping" }));
    if (ping.v !== undefined) await this.messages.versionReported(lockId, ping.v);
    const lock = this.registry.get(lockId);
    if (!lock || lock.desiredV < 1 || (ping.v !== undefined && ping.v >= lock.desiredV)) return;
    const sync = this.desired.build(lockId, this.time.nowSeconds(), { grants: false });
    if (!sync) return;
    const result = await this.gateway(session, { id: this.nextId(), type: "sync", sync: sync.bytes });
    if (!result.ok) throw new Error(`sync refused: ${result.code ?? "unknown"} ${result.message ?? ""}`);
    this.metrics.syncSent.inc({ transport: "ble" });
    if (result.v !== undefined) await this.messages.versionReported(lockId, result.v);
  }

  private async pullEvents(session: GattSession): Promise<void> {
    const lockId = session.lockId;
    let after = (this.eventsAfter.get(lockId) as { after: number } | undefined)?.after ?? 0;
    for (let round = 0; round < MAX_EVENT_ROUNDS; round++) {
      const result = await this.gateway(session, { id: this.nextId(), type: "events", after });
      if (!result.ok) throw new Error(`events refused: ${result.code ?? "unknown"} ${result.message ?? ""}`);
      const events = result.events ?? [];
      let highest = after;
      for (const bytes of events) {
        try {
          const event = decodeEvent(bytes);
          await this.messages.event(lockId, event);
          highest = Math.max(highest, event.seq);
        } catch (e) {
          if (!isProtocolError(e)) throw e;
          this.metrics.messagesRejected.inc({ reason: e.code });
          this.logger.warn({ lockId, err: e.message }, "dropped a BLE event that does not decode");
        }
      }
      if (highest > after) {
        // Stored in the outbox (committed) before the lock may forget them with the next `after`.
        this.setEventsAfter.run(highest, lockId);
        after = highest;
      }
      // An empty answer means the lock has nothing after `after`, and has just forgotten everything up to it.
      if (events.length === 0) return;
    }
  }
}
