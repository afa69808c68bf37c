import type { BatteryState, LockEvent, LockEventType, LockState } from "@latchkey/protocol";
import type Database from "better-sqlite3";
import { FlashError, FlashFile } from "./flash-file.js";

/** What a lock keeps across restarts besides its events, key material and trust (flash/identity-flash.ts). */
export interface LockRecord {
  nextSeq: number;
  droppedTotal: number;
  /**
   * The highest time (unix ms) an event was stamped with: events of a lock with no time yet (none ever, or after a
   * clock reset) carry the last time it knew, so they stay ordered (0 before it ever knew one).
   */
  stampFloorMs: number;
  battery: BatteryRecord;
  actuator: ActuatorRecord;
}

export interface BatteryRecord {
  /** Charge in percent, fractional: the level reported is its rounded value. */
  charge: number;
  /** Base clock reading up to which idle drain has been applied. */
  idleAnchorMs: number;
  state: BatteryState;
}

export interface ActuatorRecord {
  state: LockState;
  jamFault: boolean;
}

export type EventDraft = Omit<LockEvent, "seq" | "lock" | "dropped">;

/** An event in the ring buffer with its latest sealed report (docs/reports.md), when it was ever sealed. */
export interface StoredEvent {
  event: LockEvent;
  /** The report counter of its latest sealing, and the sealed bytes (COSE_Mac0). */
  sealed?: { ctr: number; report: Uint8Array };
}

/** What appending an event did to the ring buffer. */
export interface AppendResult {
  event: LockEvent;
  /** Events dropped to make room, and the buffered event that now carries the count. */
  dropped: { seq: number; creditedSeq: number; creditedDropped: number }[];
}

interface DropRow {
  seq: number;
  dropped: number;
}

interface EventRow {
  seq: number;
  id: Buffer;
  ts: number;
  type: string;
  key: Buffer | null;
  code: string | null;
  dropped: number;
  v: number | null;
  cmd: Buffer | null;
  ctr: number | null;
  report: Buffer | null;
}

interface StateRow {
  next_seq: number;
  dropped_total: number;
  stamp_floor_ms: number;
  battery_charge: number;
  battery_idle_anchor_ms: number;
  battery_state: string;
  actuator_state: string;
  jam_fault: number;
}

const EVENT_COLUMNS = "seq, id, ts, type, key, code, dropped, v, cmd, ctr, report";

/** Prepared once per flash file and shared by every lock on it (statements cost memory, and there may be 1,000 locks). */
function prepare(db: Database.Database) {
  return {
    getState: db.prepare<[string], StateRow>("SELECT * FROM lock_state WHERE lock = ?"),
    insertState: db.prepare(
      `INSERT INTO lock_state (lock, next_seq, dropped_total, stamp_floor_ms, battery_charge, battery_idle_anchor_ms,
        battery_state, actuator_state, jam_fault) VALUES (@lock, @next_seq, @dropped_total, @stamp_floor_ms,
        @battery_charge, @battery_idle_anchor_ms, @battery_state, @actuator_state, @jam_fault)`,
    ),
    bumpSeq: db.prepare(
      "UPDATE lock_state SET next_seq = next_seq + 1, stamp_floor_ms = MAX(stamp_floor_ms, ?) WHERE lock = ?",
    ),
    addDropped: db.prepare("UPDATE lock_state SET dropped_total = dropped_total + ? WHERE lock = ?"),
    setBattery: db.prepare(
      "UPDATE lock_state SET battery_charge = ?, battery_idle_anchor_ms = ?, battery_state = ? WHERE lock = ?",
    ),
    setActuator: db.prepare("UPDATE lock_state SET actuator_state = ?, jam_fault = ? WHERE lock = ?"),
    insertEvent: db.prepare(
      "INSERT INTO events (lock, seq, id, ts, type, key, code, dropped, v, cmd) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
    ),
    setReport: db.prepare("UPDATE events SET ctr = ?, report = ? WHERE lock = ? AND seq = ?"),
    countEvents: db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM events WHERE lock = ?"),
    oldestEvents: db.prepare<[string, number], { seq: number; dropped: number }>(
      "SELECT seq, dropped FROM events WHERE lock = ? ORDER BY seq LIMIT ?",
    ),
    setEventDropped: db.prepare("UPDATE events SET dropped = ? WHERE lock = ? AND seq = ?"),
    deleteEvent: db.prepare("DELETE FROM events WHERE lock = ? AND seq = ?"),
    deleteEventsThrough: db.prepare("DELETE FROM events WHERE lock = ? AND seq <= ?"),
    eventsAfter: db.prepare<[string, number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE lock = ? AND seq > ? ORDER BY seq LIMIT ?`,
    ),
    eventAt: db.prepare<[string, number], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE lock = ? AND seq = ?`),
  };
}

type Statements = ReturnType<typeof prepare>;
const statementCache = new WeakMap<Database.Database, Statements>();

function statementsFor(db: Database.Database): Statements {
  let s = statementCache.get(db);
  if (s === undefined) {
    s = prepare(db);
    statementCache.set(db, s);
  }
  return s;
}

const bytes = (b: Buffer | null | undefined): Uint8Array | undefined =>
  b == null ? undefined : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function rowToStored(lock: string, row: EventRow): StoredEvent {
  const event: LockEvent = { id: bytes(row.id)!, lock, seq: row.seq, ts: row.ts, type: row.type as LockEventType };
  if (row.key !== null) event.key = bytes(row.key)!;
  if (row.code !== null) event.code = row.code;
  if (row.dropped > 0) event.dropped = row.dropped;
  if (row.v !== null) event.v = row.v;
  if (row.cmd !== null) event.cmd = bytes(row.cmd)!;
  const stored: StoredEvent = { event };
  if (row.ctr !== null && row.report !== null) stored.sealed = { ctr: row.ctr, report: bytes(row.report)! };
  return stored;
}

/** One lock's partition of a flash file: everything the firmware persists, each change committed on its own. */
export class LockFlash {
  private readonly s: Statements;
  private released = false;
  /** Whether this boot wrote the partition (first boot, or the first after a factory reset). */
  created = false;
  /** Events in the ring buffer, kept in memory so an append costs no COUNT over the table. */
  private buffered: number;

  private constructor(
    private readonly file: FlashFile,
    readonly lockId: string,
  ) {
    this.s = statementsFor(file.db);
    this.buffered = this.s.countEvents.get(lockId)!.n;
  }

  /** Opens the lock's partition, writing `initial` on first boot. */
  static open(dataDir: string, lockId: string, initial: () => LockRecord): { flash: LockFlash; record: LockRecord } {
    const file = FlashFile.openClaimed(dataDir, lockId);
    const flash = new LockFlash(file, lockId);
    try {
      return { flash, record: flash.loadOrCreate(initial) };
    } catch (e) {
      flash.release();
      throw e instanceof FlashError ? e : new FlashError(`cannot read the flash of ${lockId}: ${(e as Error).message}`);
    }
  }

  get path(): string {
    return this.file.path;
  }

  /** The SQLite connection, for the identity and trust tables (flash/identity-flash.ts), kept in their own module. */
  get database(): Database.Database {
    return this.file.db;
  }

  private loadOrCreate(initial: () => LockRecord): LockRecord {
    const row = this.s.getState.get(this.lockId);
    if (row === undefined) {
      this.created = true;
      const record = initial();
      this.s.insertState.run({
        lock: this.lockId,
        next_seq: record.nextSeq,
        dropped_total: record.droppedTotal,
        stamp_floor_ms: record.stampFloorMs,
        battery_charge: record.battery.charge,
        battery_idle_anchor_ms: record.battery.idleAnchorMs,
        battery_state: record.battery.state,
        actuator_state: record.actuator.state,
        jam_fault: record.actuator.jamFault ? 1 : 0,
      });
      return record;
    }
    return {
      nextSeq: row.next_seq,
      droppedTotal: row.dropped_total,
      stampFloorMs: row.stamp_floor_ms,
      battery: {
        charge: row.battery_charge,
        idleAnchorMs: row.battery_idle_anchor_ms,
        state: row.battery_state as BatteryState,
      },
      actuator: { state: row.actuator_state as LockState, jamFault: row.jam_fault === 1 },
    };
  }

  /** Runs `fn` as one transaction: all of its writes land, or none. */
  atomically<T>(fn: () => T): T {
    return this.file.db.transaction(fn)();
  }

  /**
   * Appends an event with the next seq. When the ring buffer then holds more than `capacity` events, the oldest
   * one not in flight is dropped and the count moves to the buffered event right after it, so whoever receives that
   * event learns exactly how many events are missing before it. Neither may be in flight: the broker may already
   * hold a victim that is, and a count added to an event already on the wire never arrives. With no such pair the
   * buffer keeps one event more for now (the uplink bounds how many are in flight).
   */
  appendEvent(
    nextSeq: number,
    draft: EventDraft,
    capacity: number,
    inFlight: ReadonlySet<number>,
    floorMs: number,
  ): AppendResult {
    return this.atomically(() => {
      const s = this.s;
      s.insertEvent.run(
        this.lockId,
        nextSeq,
        draft.id,
        draft.ts,
        draft.type,
        draft.key ?? null,
        draft.code ?? null,
        draft.v ?? null,
        draft.cmd ?? null,
      );
      s.bumpSeq.run(floorMs, this.lockId);
      const dropped: AppendResult["dropped"] = [];
      let count = this.buffered + 1;
      let droppedSelf = 0;
      while (count > capacity) {
        const pair = this.droppablePair(inFlight);
        if (!pair) break;
        const [victim, next] = pair;
        s.deleteEvent.run(this.lockId, victim.seq);
        const credited = next.dropped + 1 + victim.dropped;
        s.setEventDropped.run(credited, this.lockId, next.seq);
        dropped.push({ seq: victim.seq, creditedSeq: next.seq, creditedDropped: credited });
        if (next.seq === nextSeq) droppedSelf = credited;
        count--;
      }
      if (dropped.length > 0) s.addDropped.run(dropped.length, this.lockId);
      const event: LockEvent = { ...draft, lock: this.lockId, seq: nextSeq };
      if (droppedSelf > 0) event.dropped = droppedSelf;
      this.buffered = count;
      return { event, dropped };
    });
  }

  /**
   * The oldest buffered event that may be dropped, with the buffered event that then takes its count: neither in
   * flight, and no gap between them other than the victim's own count (the count says "the events right before me").
   */
  private droppablePair(inFlight: ReadonlySet<number>): [DropRow, DropRow] | undefined {
    let prev: DropRow | undefined;
    for (const row of this.s.oldestEvents.iterate(this.lockId, Number.MAX_SAFE_INTEGER)) {
      if (prev && !inFlight.has(prev.seq) && !inFlight.has(row.seq) && row.seq - row.dropped - 1 === prev.seq)
        return [prev, row];
      prev = row;
    }
    return undefined;
  }

  /** Records the latest sealing of an event (its counter already durable in the trust row of the same flash). */
  setEventReport(seq: number, ctr: number, report: Uint8Array): void {
    this.s.setReport.run(ctr, report, this.lockId, seq);
  }

  /**
   * Frees every event up to `seq`. Only the trust engine calls it, with the signed state's `ack`
   * (TrustEngine.freeAcknowledgedEvents): no PUBACK and no gateway frees an event (docs/design.md section 7).
   */
  ackEventsThrough(seq: number): number {
    const changes = this.s.deleteEventsThrough.run(this.lockId, seq).changes;
    this.buffered -= changes;
    return changes;
  }

  /** Buffered events after `afterSeq`, oldest first. */
  eventsAfter(afterSeq = -1, limit = 1_000_000): LockEvent[] {
    return this.storedAfter(afterSeq, limit).map((s) => s.event);
  }

  /** Buffered events after `afterSeq` with their latest sealing, oldest first. */
  storedAfter(afterSeq = -1, limit = 1_000_000): StoredEvent[] {
    return this.s.eventsAfter.all(this.lockId, afterSeq, limit).map((r) => rowToStored(this.lockId, r));
  }

  /** One buffered event, or undefined when it is not in the ring (freed, or dropped). */
  storedAt(seq: number): StoredEvent | undefined {
    const row = this.s.eventAt.get(this.lockId, seq);
    return row === undefined ? undefined : rowToStored(this.lockId, row);
  }

  /** Re-reads what memory mirrors, after a transaction that failed and rolled back. */
  reload(): void {
    this.buffered = this.s.countEvents.get(this.lockId)!.n;
  }

  bufferedCount(): number {
    return this.buffered;
  }

  saveBattery(b: BatteryRecord): void {
    this.s.setBattery.run(b.charge, b.idleAnchorMs, b.state, this.lockId);
  }

  saveActuator(a: ActuatorRecord): void {
    this.s.setActuator.run(a.state, a.jamFault ? 1 : 0, this.lockId);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.file.release(this.lockId);
  }
}
