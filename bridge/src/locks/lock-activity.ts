import { EventEmitter } from "node:events";
import type { PeekedReport } from "@latchkey/protocol";

/** An event as the bridge's peek read it: unauthenticated (the bridge cannot check a report's MAC). */
export interface SeenEvent {
  /** The event's id (hex): a resent event is the same event. */
  id: string;
  type: string;
  seq: number;
  /** Unix seconds by the lock's clock. */
  ts: number;
  code?: string;
  v?: number;
  dropped?: number;
  /** Unix ms the bridge received it. */
  receivedAt: number;
}

export interface LockActivityRecord {
  /** Unix ms of the last message from the lock (any topic, or a BLE visit). */
  lastSeenAt: number | null;
  /** The `v` of the signed state the lock runs, as its last `state_applied` report or `ping` answer says. */
  runsV: number | null;
  runsVFrom: "report" | "ping" | null;
  /** The last events, newest first. */
  events: SeenEvent[];
  /** Events the lock's ring dropped (its `dropped` counts: the gaps in its seq), since the bridge started. */
  dropped: number;
  /** The cloud's refusals of this lock's reports since start, by verdict. */
  refusals: Record<string, number>;
}

const EVENTS_KEPT = 5;

const hexSlice = (Buffer.prototype as unknown as { hexSlice: (this: Uint8Array, start: number, end: number) => string })
  .hexSlice;
/** An event id in hex, made once per event: one flat string (a table lookup per byte builds 16 cons strings). */
const hex = (bytes: Uint8Array): string => hexSlice.call(bytes, 0, bytes.length);

/**
 * What the status page shows of each lock beyond the registry: when the bridge last heard from it, the signed state
 * version it says it runs, its last events, seq gaps and the cloud's refusals of its reports. In memory only, a few
 * hundred bytes a lock; since the bridge started. All of it but the refusals (the cloud's verdicts) is the lock's
 * unauthenticated word as the bridge peeked it, and labelled so.
 */
export class LockActivity extends EventEmitter<{ change: [lockId: string] }> {
  private readonly locks = new Map<string, LockActivityRecord>();

  constructor(private readonly now: () => number) {
    super();
  }

  get(lockId: string): LockActivityRecord | undefined {
    return this.locks.get(lockId);
  }

  private record(lockId: string): LockActivityRecord {
    let r = this.locks.get(lockId);
    if (!r) {
      r = { lastSeenAt: null, runsV: null, runsVFrom: null, events: [], dropped: 0, refusals: {} };
      this.locks.set(lockId, r);
    }
    return r;
  }

  /** Forgets locks the bridge no longer knows. */
  retain(known: (lockId: string) => boolean): void {
    for (const id of [...this.locks.keys()]) if (!known(id)) this.locks.delete(id);
  }

  seen(lockId: string): void {
    this.record(lockId).lastSeenAt = this.now();
    this.emit("change", lockId);
  }

  report(lockId: string, peeked: PeekedReport): void {
    const r = this.record(lockId);
    r.lastSeenAt = this.now();
    if (peeked.kind === "event") {
      const e = peeked.event;
      const seen: SeenEvent = { id: hex(e.id), type: e.type, seq: e.seq, ts: e.ts, receivedAt: r.lastSeenAt };
      if (e.code !== undefined) seen.code = e.code;
      if (e.v !== undefined) seen.v = e.v;
      if (e.dropped) seen.dropped = e.dropped;
      // The same event sealed again (a resend after a reconnect) is shown, and its gap counted, once.
      if (!r.events.some((x) => x.id === seen.id)) {
        r.dropped += e.dropped ?? 0;
        r.events.unshift(seen);
        r.events.length = Math.min(r.events.length, EVENTS_KEPT);
      }
      // A resent older `state_applied` must not lower it; a ping answer sets it outright (a reset lock runs none).
      if (e.type === "state_applied" && e.v !== undefined && (r.runsV === null || e.v > r.runsV)) {
        r.runsV = e.v;
        r.runsVFrom = "report";
      }
    }
    this.emit("change", lockId);
  }

  /** The lock's answer to `ping`: the `v` it runs (0: none). */
  pinged(lockId: string, v: number): void {
    const r = this.record(lockId);
    r.lastSeenAt = this.now();
    r.runsV = v;
    r.runsVFrom = "ping";
    this.emit("change", lockId);
  }

  refused(lockId: string, verdict: string): void {
    const r = this.record(lockId);
    r.refusals[verdict] = (r.refusals[verdict] ?? 0) + 1;
    this.emit("change", lockId);
  }
}
