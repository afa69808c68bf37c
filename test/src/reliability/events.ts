import type { SimLock } from "@latchkey/lock-sim";
import { type LockEvent, toHex } from "@latchkey/protocol";
import type Database from "better-sqlite3";

/** An unlock attempt with a malformed token: the lock refuses it and records exactly one `denied` event. */
export function deniedAttempt(lock: SimLock, n: number): void {
  lock.command({
    id: `attempt-${n}`,
    type: "unlock",
    token: new Uint8Array([1, 2, 3]),
    proof: new Uint8Array(64),
    nonce: new Uint8Array(16),
  });
}

export interface StoredEvent {
  id: string;
  lockId: string;
  seq: number;
  dropped: number | null;
  type: string;
}

/** The events the cloud stored for these locks, from its database (every type, not only the listed key events). */
export function storedEvents(db: Database.Database, lockIds: readonly string[]): StoredEvent[] {
  const placeholders = lockIds.map(() => "?").join(", ");
  return db
    .prepare(`SELECT id, lock_id AS lockId, seq, dropped, type FROM events WHERE lock_id IN (${placeholders})`)
    .all(...lockIds) as StoredEvent[];
}

export interface DeliveryAudit {
  /** Events the lock made, ever (its history in this process). */
  emitted: number;
  /** Events the lock's ring buffer dropped (its own count) and the drops the cloud was told about. */
  droppedByLock: number;
  droppedReported: number;
  /** Events the cloud holds for the lock. */
  stored: number;
  /** Emitted, not dropped, and not in the cloud. */
  lost: string[];
  /** In the cloud but never emitted by the lock, or stored with another seq. */
  phantoms: string[];
  /** Seqs missing from the cloud that no reported drop explains. */
  unexplainedGaps: number[];
}

/**
 * Checks one lock's events end to end: each event the lock made is in the cloud once (by id) with its seq, unless
 * its ring buffer dropped it; every seq missing from the cloud is covered by the `dropped` count of the next stored
 * event (docs/mqtt.md: it counts the events dropped immediately before it); and the drops reported add up to the
 * lock's own count.
 */
export function auditLock(lock: SimLock, stored: readonly StoredEvent[]): DeliveryAudit {
  const mine = stored.filter((e) => e.lockId === lock.id).sort((a, b) => a.seq - b.seq);
  const bySeq = new Map<number, LockEvent>(lock.events.map((e) => [e.seq, e]));
  const storedIds = new Set(mine.map((e) => e.id));
  const phantoms = mine.filter((e) => bySeq.get(e.seq) === undefined || toHex(bySeq.get(e.seq)!.id) !== e.id);
  // Which seqs the cloud was told were dropped.
  const reportedDropped = new Set<number>();
  let droppedReported = 0;
  for (const e of mine) {
    const d = e.dropped ?? 0;
    droppedReported += d;
    for (let s = e.seq - d; s < e.seq; s++) reportedDropped.add(s);
  }
  const first = lock.events[0]?.seq ?? 1;
  const last = lock.events.at(-1)?.seq ?? 0;
  const unexplainedGaps: number[] = [];
  const lost: string[] = [];
  for (let seq = first; seq <= last; seq++) {
    const made = bySeq.get(seq);
    const inCloud = made !== undefined && storedIds.has(toHex(made.id));
    if (inCloud) continue;
    if (reportedDropped.has(seq)) continue;
    unexplainedGaps.push(seq);
    if (made) lost.push(`${lock.id}#${seq}`);
  }
  return {
    emitted: lock.events.length,
    droppedByLock: lock.droppedTotal,
    droppedReported,
    stored: mine.length,
    lost,
    phantoms: phantoms.map((e) => `${e.lockId}#${e.seq}`),
    unexplainedGaps,
  };
}
