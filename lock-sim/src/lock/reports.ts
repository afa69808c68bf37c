import { type Clock, type LockEvent, MAX_REPORTS_PER_RESULT, sealReport, type Telemetry } from "@latchkey/protocol";
import type { LockFlash } from "../flash/lock-flash.js";
import type { TrustEngine } from "./trust-engine.js";

/** One sealed report (docs/reports.md): its counter and the COSE_Mac0 bytes. */
export interface SealedReport {
  ctr: number;
  report: Uint8Array;
}

/**
 * Seals what the lock reports (docs/reports.md, docs/trust.md "Lock"): every event and telemetry reading goes out as a
 * COSE_Mac0 under the report key the applied state names, with the next report counter, made durable before the
 * report leaves the lock. Without a state there is no key: events wait in the ring, telemetry is not sent.
 *
 * A report is sealed when it is handed to a courier, never before: the cloud refuses a counter at or below the highest
 * it accepted (`replayed`), so a report must never leave after one with a higher counter. Handing out in sealing
 * order is each courier's job (the MQTT link publishes in order; `reports` answers in counter order), and a report
 * sealed for nobody would only leave a gap in the counters.
 *
 * Each event keeps its latest sealing in flash with it, until the signed `ack` frees it. The latest telemetry reading
 * is kept in memory (a reading, not history), sealed once for whichever courier takes it first.
 */
export class ReportSealer {
  private telemetryReading: Telemetry | undefined;
  private telemetrySealed: SealedReport | undefined;
  /** Events handed to a BLE gateway (`reports`): seq → local ms, for the resend rule. */
  private readonly handedOut = new Map<number, number>();

  constructor(
    private readonly engine: TrustEngine,
    private readonly flash: LockFlash,
    /** The lock's local millisecond counter (its oscillator). */
    private readonly local: Clock,
    /** An event handed out but still above the signed ack this long after is sealed again (default 600 s). */
    private readonly resendMs: number,
  ) {}

  /** Whether a state names a report key the lock can seal with. */
  get canSeal(): boolean {
    return this.engine.reportKey() !== undefined;
  }

  /** Seals a buffered event under a new counter and keeps that sealing with it; undefined without a report key. */
  sealEvent(event: LockEvent): SealedReport | undefined {
    const key = this.engine.reportKey();
    if (key === undefined) return undefined;
    return this.flash.atomically(() => {
      const ctr = this.engine.nextReportCounter();
      const report = sealReport({ kind: "event", event, key: key.key, cloudKeyId: key.kid, ctr });
      this.flash.setEventReport(event.seq, ctr, report);
      return { ctr, report };
    });
  }

  /** A new telemetry reading: it replaces the one kept, sealed or not. */
  setTelemetry(reading: Telemetry): void {
    this.telemetryReading = reading;
    this.telemetrySealed = undefined;
  }

  /** The latest reading, sealed now if it was not yet; undefined with no reading or no report key. */
  sealTelemetry(): SealedReport | undefined {
    if (this.telemetrySealed !== undefined) return this.telemetrySealed;
    const reading = this.telemetryReading;
    const key = this.engine.reportKey();
    if (reading === undefined || key === undefined) return undefined;
    const ctr = this.engine.nextReportCounter();
    const report = sealReport({ kind: "telemetry", telemetry: reading, key: key.key, cloudKeyId: key.kid, ctr });
    this.telemetrySealed = { ctr, report };
    return this.telemetrySealed;
  }

  /**
   * A gateway's `reports {after}` (docs/trust.md "Lock"): up to MAX_REPORTS_PER_RESULT sealed reports with a counter
   * above `after`, in counter order, freeing nothing. An event is sealed now when it never was, or when the gateway
   * already has its latest sealing (its counter is not above `after`) but was handed it more than `resendMs` ago, or
   * not since this boot, and it is still above the ack: the gateway may have lost it. The latest telemetry reading
   * comes last when there is room.
   */
  reportsAfter(after: number): Uint8Array[] {
    if (!this.canSeal) return [];
    const now = this.local.now();
    const out: SealedReport[] = [];
    for (const stored of this.flash.storedAfter(-1)) {
      if (out.length >= MAX_REPORTS_PER_RESULT) break;
      const seq = stored.event.seq;
      let sealed = stored.sealed;
      if (sealed === undefined || sealed.ctr <= after) {
        const handed = this.handedOut.get(seq);
        const lost = sealed === undefined || handed === undefined || now - handed >= this.resendMs;
        if (!lost) continue;
        sealed = this.sealEvent(stored.event);
        if (sealed === undefined) break;
      }
      out.push(sealed);
      this.handedOut.set(seq, now);
    }
    if (out.length < MAX_REPORTS_PER_RESULT) {
      const telemetry = this.sealTelemetry();
      if (telemetry !== undefined && telemetry.ctr > after) out.push(telemetry);
    }
    return out.sort((a, b) => a.ctr - b.ctr).map((s) => s.report);
  }

  /** Events up to the signed ack left the ring: their hand-out times go too. */
  forgetThrough(ack: number): void {
    for (const seq of this.handedOut.keys()) if (seq <= ack) this.handedOut.delete(seq);
  }
}
