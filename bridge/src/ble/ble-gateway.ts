import { randomBytes } from "node:crypto";
import { type Command, type CommandResult, LOCK_SERVICE_UUID, MAX_STATE_BYTES } from "@latchkey/protocol";
import { GattClient } from "@latchkey/protocol/ble";
import { NobleGattLink, ServiceLoop, sleep, withTimeout } from "@latchkey/runtime";
import type { ActionRunner } from "../actions/action-runner.js";
import type { CloudClient } from "../cloud/client.js";
import type { CommandRequest } from "../commands/command-channel.js";
import { type LockMessages, RefusedPayloadError } from "../locks/lock-messages.js";
import type { LockRegistry } from "../locks/registry.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";

import type { Db } from "../store/database.js";
import type { StateRelay } from "../trust/state-relay.js";
import type { Noble, Peripheral } from "./noble-loader.js";

export interface BleGatewayOptions {
  scanSeconds: number;
  pollSeconds: number;
  commandTimeoutSeconds: number;
}

/** One GATT connection to a lock, opened by the gateway for one visit. */
type GattSession = GattClient<NobleGattLink>;

/** Pulling stops after this many `reports` round trips per visit, so one chatty lock cannot starve the others. */
const MAX_REPORT_ROUNDS = 64;

/**
 * Serves locks of `ble` vendor connections over Bluetooth LE with noble (a real adapter, or a VirtualRadio's bindings
 * in tests), as a courier (docs/design.md section 7, docs/mqtt.md "BLE"): every command it sends carries a document
 * the lock verifies itself or asks for what the lock seals, so the bridge needs no secret and holds none. Each round:
 * scan for the lock service, then per lock found connect, read its id, and
 * - `ping`: the `v` of the signed state the lock runs and its public keys (kept, attached to its reports);
 * - `state` with the kept signed state when it is newer than the lock's `v` (bytes as the cloud sent them);
 * - `time_request` → the cloud → `time_answer` (every visit of a lock that runs a state: a lock out of reach for long
 *   needs it most; one without a state trusts no authority yet and would refuse);
 * - `reports` with `after` = the highest report counter pulled from this lock (persisted): each sealed report goes to
 *   the outbox (committed) before `after` moves past it; asking frees nothing at the lock, which frees its events only
 *   up to its signed state's `ack`;
 * - the remote actions waiting for this lock.
 * A failing step is logged and the visit goes on to the next one: reports matter even when the time answer fails. A
 * dropped link ends the visit at once; the steps left wait for the next visit, which loses nothing and repeats nothing
 * applied: `after` moved only past reports already in the outbox, and a state the lock took shows in its next `ping`.
 */
export class BleGateway {
  private readonly abort = new AbortController();
  /** A round, then `pollSeconds` or a wake-up; a failed round is logged and the next comes after `pollSeconds`. */
  private readonly loop: ServiceLoop;
  private readonly present = new Set<string>();
  private counter = 0;
  private readonly reportsAfter;
  private readonly setReportsAfter;
  private readonly resetReportsAfter;

  constructor(
    private readonly noble: Noble,
    db: Db,
    private readonly registry: LockRegistry,
    private readonly messages: LockMessages,
    private readonly cloud: CloudClient,
    private readonly states: StateRelay,
    private readonly actions: ActionRunner,
    private readonly options: BleGatewayOptions,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    /** Resolves once the adapter can scan (BleAdapter.whenAvailable); rounds wait for it. */
    private readonly adapterReady: (signal: AbortSignal) => Promise<void> = async () => {},
  ) {
    this.reportsAfter = db.prepare("SELECT ble_reports_after AS after FROM locks WHERE lock_id = ?");
    this.setReportsAfter = db.prepare(
      "UPDATE locks SET ble_reports_after = MAX(ble_reports_after, ?) WHERE lock_id = ?",
    );
    this.resetReportsAfter = db.prepare("UPDATE locks SET ble_reports_after = 0 WHERE lock_id = ?");
    this.loop = new ServiceLoop({
      round: async (signal) => {
        // An adapter that went away (powered off, unplugged) is waited for, not scanned with: the MQTT side goes on.
        await this.adapterReady(signal);
        if (signal.aborted) return;
        const { locks } = await this.round();
        this.logger.debug({ locks: locks.length }, "BLE round done");
      },
      idleMs: options.pollSeconds * 1000,
      onError: (e) => this.logger.warn({ err: (e as Error).message }, "BLE round failed"),
    });
    // New keys are a factory reset: the lock counts its reports from 1 again.
    registry.on("keys", (lockId) => this.resetReportsAfter.run(lockId));
  }

  /** Cuts the pause before the next round short (a remote action waits for a BLE lock). */
  wake(): void {
    this.loop.wake();
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.noble.stopScanningAsync().catch(() => {});
    await this.loop.stop();
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

  /** One command over the session: the id is the gateway's, the rest the request's. */
  private request(session: GattSession, request: CommandRequest): Promise<CommandResult> {
    return session.request({ ...request, id: this.nextId() } as Command);
  }

  /** One session with one peripheral; answers its lock id when it was served. */
  private async serve(peripheral: Peripheral): Promise<string | null> {
    let session: GattSession;
    try {
      const timeoutMs = this.options.commandTimeoutSeconds * 1000;
      session = await new GattClient(new NobleGattLink(peripheral), {
        deadline: withTimeout,
        openTimeoutMs: timeoutMs,
        requestTimeoutMs: timeoutMs,
      }).open();
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
      await this.visit(session);
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

  /** The steps of one visit; each step's failure is logged and the next step still runs. */
  private async visit(session: GattSession): Promise<void> {
    const lockId = session.lockId;
    let failures = 0;
    let skipped = 0;
    const step = async (name: string, work: () => Promise<void>) => {
      // The link dropped: the steps left wait for the next visit rather than each failing with the same cause.
      if (!session.connected) {
        skipped++;
        return;
      }
      try {
        await work();
      } catch (e) {
        failures++;
        this.logger.warn({ lockId, step: name, err: (e as Error).message }, "a BLE visit step failed");
      }
    };
    let lockV = 0;
    await step("ping", async () => {
      const ping = await this.request(session, { type: "ping" });
      if (!ping.ok) throw new Error(`ping refused: ${ping.code ?? "unknown"}`);
      lockV = ping.v ?? 0;
      this.messages.pinged(lockId, lockV);
      if (ping.keys) await this.messages.keys(lockId, { lock: lockId, ...ping.keys });
      if (ping.state) await this.registry.setLockState(lockId, ping.state);
    });
    await step("state", async () => {
      lockV = await this.handState(session, lockV);
    });
    // A lock with no state trusts no authority yet and refuses to ask for the time (`no_state`): nothing to carry.
    if (lockV > 0) await step("time", () => this.handTime(session));
    await step("reports", () => this.pullReports(session));
    await step("actions", () => this.actions.visit(lockId, (request) => this.request(session, request)));
    if (failures > 0 || skipped > 0)
      throw new Error(
        `${failures} step(s) of the visit failed${skipped > 0 ? `, ${skipped} not run: the link dropped` : ""}`,
      );
  }

  /** The kept signed state, when it is newer than the one the lock runs; answers the `v` the lock runs after. */
  private async handState(session: GattSession, lockV: number): Promise<number> {
    const kept = this.states.latest(session.lockId);
    if (!kept || kept.v <= lockV || kept.state.length > MAX_STATE_BYTES) return lockV;
    const result = await this.request(session, { type: "state", doc: kept.state });
    if (!result.ok) throw new Error(`state refused: ${result.code ?? "unknown"} ${result.message ?? ""}`);
    this.metrics.relayedStates.inc();
    return result.v ?? kept.v;
  }

  /** The lock's time request to the cloud and the signed answer back, within the lock's round-trip cap. */
  private async handTime(session: GattSession): Promise<void> {
    const lockId = session.lockId;
    const asked = await this.request(session, { type: "time_request" });
    if (!asked.ok || !asked.request) throw new Error(`time request refused: ${asked.code ?? "no request"}`);
    let answer: Uint8Array;
    try {
      answer = await this.cloud.timeAnswer(lockId, asked.request, this.abort.signal);
    } catch (e) {
      this.metrics.relayFetchFailures.inc({ operation: "time" });
      throw e;
    }
    const result = await this.request(session, { type: "time_answer", answer });
    if (!result.ok) throw new Error(`time answer refused: ${result.code ?? "unknown"} ${result.message ?? ""}`);
    this.metrics.relayedTimeAnswers.inc();
  }

  /**
   * `reports` with `after` = the highest counter pulled: each report to the outbox (committed) first, then `after`
   * moves. A report that is not this lock's or does not peek is dropped (logged and counted by LockMessages): a
   * courier cannot refuse over BLE, and the cloud would refuse it anyway.
   */
  private async pullReports(session: GattSession): Promise<void> {
    const lockId = session.lockId;
    let after = (this.reportsAfter.get(lockId) as { after: number } | undefined)?.after ?? 0;
    for (let round = 0; round < MAX_REPORT_ROUNDS; round++) {
      const result = await this.request(session, { type: "reports", after });
      if (!result.ok) throw new Error(`reports refused: ${result.code ?? "unknown"} ${result.message ?? ""}`);
      const reports = result.reports ?? [];
      let highest = after;
      for (const bytes of reports) {
        try {
          const peeked = await this.messages.report(lockId, bytes);
          this.metrics.messagesReceived.inc({ kind: peeked.kind === "event" ? "events" : "telemetry" });
          highest = Math.max(highest, peeked.ctr);
        } catch (e) {
          if (!(e instanceof RefusedPayloadError)) throw e;
        }
      }
      // Nothing above `after` (or nothing of this lock's): the lock has no newer report.
      if (highest <= after) return;
      this.setReportsAfter.run(highest, lockId);
      after = highest;
    }
  }
}
