import { createHash } from "node:crypto";
import {
  base64UrlBytes,
  deriveReportKey,
  fingerprintMatches,
  fromBase64Url,
  fromBase64UrlInto,
  fromHex,
  type LockEvent,
  type LockPublicKeys,
  openReport,
  type Report,
  type ReportHeaderMemo,
  type ReportKeyLookup,
  toHex,
} from "@latchkey/protocol";
import { REPORT_VERDICTS, type ReportUpload, type ReportVerdict } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../context.js";
import type { LockClaimRecord, LockRecord, LockReportRecord, TelemetryRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { settleCommandResults } from "./actions.js";
import { recordAppliedState } from "./authority.js";
import { confirmClaim, recordLockPublicKeys } from "./claims.js";
import { commit } from "./commit.js";
import { DerivedKeys } from "./derived-keys.js";
import { type IncomingEvent, storeLockEvents } from "./events.js";
import { type ReportKey, reportKey, reportKeySecret } from "./report-key.js";
import { batteryEvent, queueWebhookEvents, type WebhookEvent } from "./webhook-events.js";

/**
 * The ingest of lock-authenticated reports (docs/reports.md "Cloud", docs/bridge-api.md "Reports from the lock"): each
 * item judged on its own under the report key of the lock it was delivered for, accepted once (per-lock counter),
 * stored idempotently (an event by its id), and, for events, the only thing that moves the ack
 * the cloud signs into the lock's state (docs/design.md section 7: the lock frees events only up to it).
 */

export type ReportIngestVerdict = ReportVerdict;
export type ReportUploadItem = ReportUpload["items"][number];

export interface ReportItemResult {
  index: number;
  verdict: ReportIngestVerdict;
  message?: string;
}

export interface ReportIngestAnswer {
  results: ReportItemResult[];
  counts: Record<ReportIngestVerdict, number>;
  gaps: { lockId: string; missing: number }[];
}

/** What one upload did, for the cloud's metrics once it committed (ops/metrics.ts): never part of the answer. */
export interface ReportIngestOutcome {
  answer: ReportIngestAnswer;
  /** Runs of counters skipped (`opened`) and the counters in them (`missing`, the answer's gaps summed). */
  gaps: { opened: number; missing: number };
  /** Remote actions this upload's events settled (`succeeded`). */
  actionsSucceeded: number;
}

/** Counter gaps kept per lock (the newest): enough to tell a bridge's retry from a late report for months of drops. */
const MAX_COUNTER_GAPS = 256;
/** Event seqs stored above the ack kept per lock: a lock's event ring is far smaller. */
const MAX_PENDING_SEQS = 4096;
const PUBLIC_KEY_BYTES = 32;

// The same words for a lock this bridge may not report for, whatever the reason: nothing about other tenants leaks.
const UNCLAIMED = "no lock claimed by this bridge's lock holder and served by this bridge has this id";

/** A lock the bridge may report for: served by one of its connections and claimed by its own lock holder. */
interface Eligible {
  lock: LockRecord;
  claim: LockClaimRecord;
  state: LockReportRecord;
  /** The lock's public keys: stored, or proved in this batch by the fingerprint of its setup code. */
  keys: LockPublicKeys | undefined;
  /** Keys proved by this batch and not stored yet (recorded only when one of the lock's items verifies). */
  provedKeys: boolean;
  reportKey: Uint8Array | undefined;
  refused: Partial<Record<ReportIngestVerdict, number>>;
  missing: number;
  /** Runs of counters skipped in this batch. */
  gapsOpened: number;
}

const emptyState = (lockId: string): LockReportRecord => ({
  lockId,
  highestCounter: null,
  counterFrom: null,
  counterGaps: [],
  ackSeq: 0,
  pendingSeqs: [],
  refused: {},
});

function decodeKey(text: string): Uint8Array | undefined {
  try {
    const bytes = fromBase64Url(text);
    return bytes.length === PUBLIC_KEY_BYTES ? bytes : undefined;
  } catch {
    return undefined;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether the cloud accepted counter `ctr` of this lock before: the lock seals each counter once, so an authentic
 * report with an accepted counter is the very report the cloud stored (a courier's retry), not new evidence.
 */
function acceptedBefore(state: LockReportRecord, ctr: number): boolean {
  if (state.highestCounter === null || state.counterFrom === null) return false;
  if (ctr < state.counterFrom || ctr > state.highestCounter) return false;
  return !state.counterGaps.some(([from, to]) => ctr >= from && ctr <= to);
}

/** Telemetry carries no id: a report's is named by its lock and counter (unique per lock under its current keys). */
const telemetryIdOf = (lockId: string, ctr: number) =>
  createHash("sha256").update(`latchkey-report-telemetry-v1\0${lockId}\0${ctr}`).digest("hex").slice(0, 32);

/**
 * Moves the ack over every seq that is now contiguous from it (docs/design.md section 7 "Signed lock state"). `settled`
 * are the seqs an authentic event says the lock's ring dropped just before it (`seq - dropped … seq - 1`, docs/mqtt.md):
 * the lock's own word that they will never come, so the ack may pass them. Without that a ring overflow would stop the
 * ack below the first dropped seq for good, and the lock, freeing only up to the ack, would keep a full ring forever.
 */
export function advanceAck(
  ackSeq: number,
  pending: readonly number[],
  stored: readonly number[],
  settled: readonly { seq: number; dropped: number }[] = [],
) {
  const above = new Set(pending);
  for (const seq of stored) if (seq > ackSeq) above.add(seq);
  const ranges = settled
    .filter((s) => s.dropped > 0)
    .map((s) => ({ from: Math.max(1, s.seq - s.dropped), to: s.seq - 1 }))
    .filter((r) => r.to > ackSeq);
  let ack = ackSeq;
  for (;;) {
    if (above.delete(ack + 1)) {
      ack++;
      continue;
    }
    const range = ranges.find((r) => r.from <= ack + 1 && r.to > ack);
    if (range === undefined) break;
    ack = range.to;
  }
  // A dropped range the ack has not reached yet waits as seqs (bounded like every pending seq).
  for (const r of ranges) {
    if (r.to <= ack) continue;
    for (let seq = Math.max(r.from, ack + 1, r.to - MAX_PENDING_SEQS + 1); seq <= r.to; seq++) above.add(seq);
  }
  for (const seq of [...above]) if (seq <= ack) above.delete(seq);
  const rest = [...above].sort((a, b) => a - b).slice(0, MAX_PENDING_SEQS);
  return { ackSeq: ack, pendingSeqs: rest };
}

/** Event seqs known missing: between the ack and the highest seq stored from reports, never stored. */
export const missingEvents = (state: LockReportRecord | undefined): number =>
  state === undefined || state.pendingSeqs.length === 0
    ? 0
    : state.pendingSeqs[state.pendingSeqs.length - 1]! - state.ackSeq - state.pendingSeqs.length;

/**
 * Derived report keys, kept per cloud context (`DerivedKeys`). Keyed by everything the derivation binds, so new lock
 * keys or a new cloud key derive afresh. X25519 and the key imports cost more than a whole batch's MACs.
 */
const derivedKeys = new WeakMap<CloudContext, DerivedKeys>();
const MAX_DERIVED_KEYS = 10_000;

function deriveKeys(ctx: CloudContext, cloudKey: ReportKey, locks: readonly Eligible[]): void {
  const cache = derivedKeys.get(ctx) ?? new DerivedKeys(MAX_DERIVED_KEYS);
  derivedKeys.set(ctx, cache);
  const nameOf = (lock: Eligible) =>
    `${lock.lock.id}\0${cloudKey.id}\0${cloudKey.x}\0${toHex(lock.keys!.agreementKey)}`;
  const missing = locks.filter((lock) => {
    lock.reportKey = cache.get(nameOf(lock));
    return lock.reportKey === undefined;
  });
  if (missing.length === 0) return;
  const cloudPrivate = reportKeySecret(ctx, cloudKey);
  try {
    for (const lock of missing) {
      try {
        lock.reportKey = deriveReportKey({
          lockId: lock.lock.id,
          cloudKeyId: fromHex(cloudKey.id),
          cloudPrivate,
          peerPublic: lock.keys!.agreementKey,
        });
        cache.set(nameOf(lock), lock.reportKey);
      } catch {
        lock.reportKey = undefined; // a weak (low-order) lock key: nothing verifies under it
      }
    }
  } finally {
    cloudPrivate.fill(0);
  }
}

/**
 * The locks the bridge may report for, by id, in the order given: four reads for the whole upload (one per table)
 * rather than four per lock. A lock is eligible when it is not removed, is its lock holder's, is served by one of this
 * bridge's live connections, and the holder's own claim (pending or confirmed) exists: a pending claim's lock must be
 * heard to prove it (domain/claims.ts).
 */
async function eligibleLocks(
  tx: Tx,
  bridge: { bridgeId: string; lockHolderId: string },
  lockIds: readonly string[],
): Promise<Map<string, Eligible | undefined>> {
  const records = new Map((await tx.locks.getMany(lockIds)).map((l) => [l.id, l]));
  const held = lockIds.flatMap((id) => {
    const lock = records.get(id);
    return lock && lock.removedAt === null && lock.lockHolderId === bridge.lockHolderId ? [lock] : [];
  });
  const connections = new Map(
    (await tx.vendorConnections.getMany([...new Set(held.map((l) => l.vendorConnectionId))])).map((vc) => [vc.id, vc]),
  );
  const served = held.filter((lock) => {
    const vc = connections.get(lock.vendorConnectionId);
    return vc !== undefined && vc.bridgeId === bridge.bridgeId && vc.deletedAt === null;
  });
  const claims = new Map(
    (await tx.lockClaims.getMany(served.map((l) => l.id)))
      .filter((c) => c.lockHolderId === bridge.lockHolderId)
      .map((c) => [c.lockId, c]),
  );
  const claimed = served.filter((l) => claims.has(l.id));
  // Read for update: the upload puts each of these back, and uploads for other locks must not abort it (issue 17).
  const states = new Map((await tx.lockReports.getManyForUpdate(claimed.map((l) => l.id))).map((r) => [r.lockId, r]));
  const eligible = new Map<string, Eligible>();
  for (const lock of claimed) {
    const claim = claims.get(lock.id)!;
    const keys =
      claim.identityKey !== null && claim.agreementKey !== null
        ? { identityKey: fromHex(claim.identityKey), agreementKey: fromHex(claim.agreementKey) }
        : undefined;
    eligible.set(lock.id, {
      lock,
      claim,
      state: states.get(lock.id) ?? emptyState(lock.id),
      keys,
      provedKeys: false,
      reportKey: undefined,
      refused: {},
      missing: 0,
      gapsOpened: 0,
    });
  }
  return new Map(lockIds.map((id) => [id, eligible.get(id)]));
}

/**
 * One upload from a bridge, in its own transaction, then counted once committed (ops/metrics.ts): every verdict, and
 * per lock in the store too (lock_reports.refused).
 */
export async function uploadReports(
  ctx: CloudContext,
  bridge: { bridgeId: string; lockHolderId: string },
  items: readonly ReportUploadItem[],
): Promise<ReportIngestAnswer> {
  const { answer, gaps, actionsSucceeded } = await commit(ctx, (tx) => ingestReports(tx, ctx, bridge, items));
  ctx.metrics.countReports(answer.counts, gaps);
  ctx.metrics.countActions("succeeded", actionsSucceeded);
  return answer;
}

/**
 * Judges and stores one upload. Runs inside the caller's transaction: the accepted items, the new counters, the ack
 * and the refusal counts are durable together or not at all (docs/reports.md: a crash cannot accept an item twice).
 */
export async function ingestReports(
  tx: Tx,
  ctx: CloudContext,
  bridge: { bridgeId: string; lockHolderId: string },
  items: readonly ReportUploadItem[],
): Promise<ReportIngestOutcome> {
  const results: ReportItemResult[] = items.map((_, index) => ({ index, verdict: "ok" }));
  const refuse = (i: number, verdict: ReportIngestVerdict, message: string) => {
    results[i] = { index: i, verdict, message };
  };

  const locks = await eligibleLocks(tx, bridge, [...new Set(items.map((item) => item.lockId))]);

  // Keys first: a lock with none stored must prove them by its setup code's fingerprint (design.md section 7).
  const carried: (LockPublicKeys | undefined)[] = items.map(() => undefined);
  for (const [i, item] of items.entries()) {
    const lock = locks.get(item.lockId);
    if (!lock || !item.keys) continue;
    const identityKey = decodeKey(item.keys.identity);
    const agreementKey = decodeKey(item.keys.x25519);
    if (!identityKey || !agreementKey) {
      refuse(i, "malformed", "keys.identity and keys.x25519 must be 32 bytes each, base64url");
      continue;
    }
    const keys = { identityKey, agreementKey };
    carried[i] = keys;
    if (lock.keys === undefined && lock.claim.fingerprint !== null) {
      if (fingerprintMatches(fromHex(lock.claim.fingerprint), keys)) {
        lock.keys = keys;
        lock.provedKeys = true;
      }
    }
  }

  const cloudKey = await reportKey(tx, ctx);
  const cloudKid = fromHex(cloudKey.id);
  deriveKeys(
    ctx,
    cloudKey,
    [...locks.values()].filter((l): l is Eligible => l?.keys !== undefined),
  );

  // Each item on its own: envelope, lock, key, MAC. One key lookup for the upload (no closure per item), and the
  // headers that passed the checks kept for the upload: a lock seals all its reports under one header.
  const keyOf: ReportKeyLookup = (lockId, kid) => {
    const key = locks.get(lockId)?.reportKey;
    return key && sameBytes(kid, cloudKid) ? key : undefined;
  };
  const headers: ReportHeaderMemo = new Map();
  // Every report decoded into one buffer of the upload's (a view each): no array, nor copy, per report.
  const decoded = Buffer.alloc(items.reduce((n, item) => n + base64UrlBytes(item.report.length), 0));
  let decodedAt = 0;
  const authentic: { index: number; lock: Eligible; report: Report }[] = [];
  for (const [i, item] of items.entries()) {
    if (results[i]!.verdict !== "ok") continue;
    const lock = locks.get(item.lockId);
    if (!lock) {
      refuse(i, "unclaimed", UNCLAIMED);
      continue;
    }
    const keys = carried[i];
    if (
      keys &&
      lock.keys &&
      !(sameBytes(keys.identityKey, lock.keys.identityKey) && sameBytes(keys.agreementKey, lock.keys.agreementKey))
    ) {
      refuse(i, "forged", "the keys do not match the lock's claimed keys");
      continue;
    }
    if (!lock.keys) {
      refuse(
        i,
        "forged",
        keys
          ? "the keys do not match the fingerprint of the lock's setup code"
          : "the lock's first report must carry its public keys",
      );
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = fromBase64UrlInto(item.report, decoded, decodedAt);
      decodedAt += bytes.length;
    } catch {
      refuse(i, "malformed", "report is not base64url");
      continue;
    }
    const verdict = openReport(bytes, { lockId: item.lockId, keys: keyOf, headers });
    if (verdict.ok) authentic.push({ index: i, lock, report: verdict.report });
    else refuse(i, verdict.verdict, verdict.message);
  }

  // Keys proved by the fingerprint are pinned once a report under them verifies; new keys start a new counter.
  for (const lock of new Set(authentic.map((a) => a.lock))) {
    if (!lock.provedKeys) continue;
    await recordLockPublicKeys(tx, lock.lock.id, lock.claim.lockHolderId, lock.keys!);
    await tx.lockReports.reset(lock.lock.id);
    lock.state = { ...emptyState(lock.lock.id), refused: lock.state.refused };
  }

  // Then the counters, per lock in ascending order, so a batch out of order within itself is accepted whole.
  authentic.sort((a, b) => a.report.ctr - b.report.ctr || a.index - b.index);
  const accepted: typeof authentic = [];
  for (const a of authentic) {
    const { state } = a.lock;
    const { ctr } = a.report;
    if (state.highestCounter !== null && ctr <= state.highestCounter) {
      if (acceptedBefore(state, ctr)) refuse(a.index, "duplicate", `counter ${ctr} was accepted before`);
      else refuse(a.index, "replayed", `counter ${ctr} is not above ${state.highestCounter} and was never accepted`);
      continue;
    }
    if (state.highestCounter !== null && ctr > state.highestCounter + 1) {
      state.counterGaps = [...state.counterGaps, [state.highestCounter + 1, ctr - 1] as [number, number]];
      a.lock.missing += ctr - 1 - state.highestCounter;
      a.lock.gapsOpened++;
      if (state.counterGaps.length > MAX_COUNTER_GAPS) {
        const dropped = state.counterGaps.shift()!;
        state.counterFrom = dropped[1] + 1;
      }
    }
    state.counterFrom ??= ctr;
    state.highestCounter = ctr;
    accepted.push(a);
  }

  const actionsSucceeded = await storeAccepted(tx, ctx, accepted);

  const counts = Object.fromEntries(REPORT_VERDICTS.map((v) => [v, 0])) as Record<ReportIngestVerdict, number>;
  for (const r of results) {
    counts[r.verdict]++;
    const lock = locks.get(items[r.index]!.lockId);
    if (lock && r.verdict !== "ok") lock.refused[r.verdict] = (lock.refused[r.verdict] ?? 0) + 1;
  }
  const gaps: { lockId: string; missing: number }[] = [];
  const gapTotals = { opened: 0, missing: 0 };
  for (const lock of locks.values()) {
    if (!lock) continue;
    if (lock.missing > 0) gaps.push({ lockId: lock.lock.id, missing: lock.missing });
    gapTotals.opened += lock.gapsOpened;
    gapTotals.missing += lock.missing;
    const touched = accepted.some((a) => a.lock === lock) || Object.keys(lock.refused).length > 0;
    if (!touched) continue;
    const refused = { ...lock.state.refused };
    for (const [verdict, n] of Object.entries(lock.refused)) refused[verdict] = (refused[verdict] ?? 0) + n;
    lock.state.refused = refused;
    await tx.lockReports.put(lock.state);
  }
  return { answer: { results, counts, gaps }, gaps: gapTotals, actionsSucceeded };
}

/** A lock's event as the event store takes it; `ts` 0 (the lock never knew the time) is the time it was received. */
export const incomingEvent = (event: LockEvent, receivedS: number): IncomingEvent => ({
  id: toHex(event.id),
  seq: event.seq,
  tsS: event.ts > 0 ? event.ts : receivedS,
  type: event.type,
  cti: event.key ? toHex(event.key) : null,
  code: event.code ?? null,
  dropped: event.dropped ?? null,
  v: event.v ?? null,
});

/**
 * Events stored once by id; telemetry sets the battery; stored event seqs move the ack. Answers how many remote
 * actions the events settled.
 */
async function storeAccepted(
  tx: Tx,
  ctx: CloudContext,
  accepted: readonly { lock: Eligible; report: Report }[],
): Promise<number> {
  const events = accepted.flatMap(({ lock, report }) =>
    report.kind === "event" ? [{ lock, event: report.event }] : [],
  );
  // A lock that never knew the time stamps its events 0 (docs/mqtt.md "Lock behaviour details"): listed at the time the
  // cloud stored them instead, or the events list (newest 30 days) would never show them, clock_unset denials included.
  const receivedS = Math.floor(ctx.clock.now() / 1000);
  const incoming = events.map(({ lock, event }) => ({ lock: lock.lock, event: incomingEvent(event, receivedS) }));
  const stored = await storeLockEvents(tx, ctx, incoming);
  // Only an event this report stored counts for the ack: a row put under the same id by anything else first is not
  // the lock's word, so the ack stays below it (the lock keeps the event; docs/reports.md "Cloud").
  const seqsOf = new Map<Eligible, { seqs: number[]; settled: { seq: number; dropped: number }[] }>();
  for (const [i, { lock, event }] of events.entries()) {
    let entry = seqsOf.get(lock);
    if (entry === undefined) {
      entry = { seqs: [], settled: [] };
      seqsOf.set(lock, entry);
    }
    if (stored.has(incoming[i]!.event.id)) entry.seqs.push(event.seq);
    // A drop count is the lock's word whether or not this sealing stored the event: a lock moves the count of events
    // its ring dropped onto the next event it holds, which it may have sent before with a smaller count.
    if (event.dropped) entry.settled.push({ seq: event.seq, dropped: event.dropped });
  }
  for (const [lock, { seqs, settled }] of seqsOf)
    Object.assign(lock.state, advanceAck(lock.state.ackSeq, lock.state.pendingSeqs, seqs, settled));
  // The lock's word on the states it applied: one signed for a pending claim confirms it (the lock checked the pin tag
  // made with that claim's secret, domain/claims.ts), and the newest says which authority it has pinned. Every
  // accepted sealing counts, stored now or before: a re-sealed event proves the same.
  const applied = new Map<Eligible, number[]>();
  for (const { lock, event } of events) {
    if (event.type === "state_applied" && event.v !== undefined)
      applied.set(lock, [...(applied.get(lock) ?? []), event.v]);
  }
  for (const [lock, vs] of applied) {
    await confirmClaim(tx, ctx, lock.claim, vs);
    await recordAppliedState(tx, lock.lock.id, lock.claim.lockHolderId, Math.max(...vs));
  }
  // The lock's word on remote commands: an event carrying a command's binding settles its action (domain/actions.ts).
  // Every accepted sealing counts, stored now or before: a re-sealed event proves the same.
  const withCmd = events.filter(({ event }) => event.cmd !== undefined);
  let settled = 0;
  for (const lock of new Set(withCmd.map((e) => e.lock))) {
    settled += await settleCommandResults(
      tx,
      ctx,
      lock.lock.id,
      withCmd
        .filter((e) => e.lock === lock)
        .map(({ event }) => ({ id: toHex(event.id), type: event.type, cmd: event.cmd })),
    );
  }

  const now = ctx.clock.now();
  const readings = accepted.flatMap(({ lock, report }): TelemetryRecord[] =>
    report.kind === "telemetry"
      ? [
          {
            id: telemetryIdOf(lock.lock.id, report.ctr),
            lockId: lock.lock.id,
            tsS: report.telemetry.ts,
            level: report.telemetry.level,
            mv: report.telemetry.mv,
            state: report.telemetry.state,
            v: report.telemetry.v ?? null,
            dropped: report.telemetry.dropped ?? null,
            receivedAt: now,
          },
        ]
      : [],
  );
  if (readings.length === 0) return settled;
  const storedReadings = await tx.telemetry.insertManyIfNew(readings);
  const newest = new Map<string, TelemetryRecord>();
  for (const t of readings) {
    if (!storedReadings.has(t.id)) continue;
    const known = newest.get(t.lockId);
    if (!known || t.tsS >= known.tsS) newest.set(t.lockId, t);
  }
  const batteryEvents: WebhookEvent[] = [];
  for (const t of newest.values()) {
    const reading = { level: t.level, mv: t.mv, state: t.state, tsS: t.tsS };
    // Only a reading newer than the one shown can cross a threshold (setBattery keeps the newest).
    const lock = await tx.locks.get(t.lockId);
    const event =
      lock && (lock.battery === null || lock.battery.tsS <= t.tsS) ? batteryEvent(lock, reading) : undefined;
    if (event) batteryEvents.push(event);
    await tx.locks.setBattery(t.lockId, { ...reading, updatedAt: now });
  }
  await queueWebhookEvents(tx, ctx, batteryEvents);
  return settled;
}
