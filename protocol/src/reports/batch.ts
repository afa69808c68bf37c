import {
  openReport,
  type ReportHeaderMemo,
  type ReportKeyLookup,
  type ReportVerdict,
  type ReportVerdictCode,
} from "./report.js";

/**
 * A batch of reports, judged item by item (docs/reports.md "Batches"): a forged, altered, misdelivered or replayed item
 * is refused and counted, and never takes the honest items of the batch down with it. Counters are checked per lock in
 * ascending order, so a batch whose items arrive out of order within itself is still accepted whole.
 */

export interface ReportBatchItem {
  /** The lock the courier delivered the item for (topic or batch field). */
  lockId: string;
  bytes: Uint8Array;
}

/** What a cloud keeps per lock between batches (docs/reports.md "What a cloud stores per lock"). */
export interface LockReportState {
  /** The highest report counter accepted from the lock. */
  highestCounter: number;
}

/** Counters `from`..`to` (inclusive) of `lock` never arrived before a later one was accepted: lost for good. */
export interface ReportGap {
  lock: string;
  from: number;
  to: number;
}

export interface JudgeReportBatchOptions {
  keys: ReportKeyLookup;
  /** The stored state of a lock, or undefined when none is stored yet (its first accepted counter sets it). */
  state: (lockId: string) => LockReportState | undefined;
}

export interface ReportBatchJudgement {
  /** One verdict per item, in the order of the items. */
  verdicts: ReportVerdict[];
  /** The new state of every lock with at least one accepted item: what the caller stores with the accepted items. */
  state: Map<string, LockReportState>;
  gaps: ReportGap[];
  counts: Record<ReportVerdictCode, number>;
}

export function judgeReportBatch(
  items: readonly ReportBatchItem[],
  options: JudgeReportBatchOptions,
): ReportBatchJudgement {
  // First each item alone, without the counter check; then the counters of the authentic ones, per lock.
  const headers: ReportHeaderMemo = new Map();
  const verdicts = items.map((item) => openReport(item.bytes, { lockId: item.lockId, keys: options.keys, headers }));
  const byLock = new Map<string, number[]>();
  verdicts.forEach((v, index) => {
    if (!v.ok) return;
    const list = byLock.get(v.report.lock);
    if (list) list.push(index);
    else byLock.set(v.report.lock, [index]);
  });
  const state = new Map<string, LockReportState>();
  const gaps: ReportGap[] = [];
  for (const [lock, indexes] of byLock) {
    const ctrOf = (i: number) => (verdicts[i] as Extract<ReportVerdict, { ok: true }>).report.ctr;
    indexes.sort((a, b) => ctrOf(a) - ctrOf(b) || a - b);
    let highest = options.state(lock)?.highestCounter;
    for (const i of indexes) {
      const ctr = ctrOf(i);
      if (highest !== undefined && ctr <= highest) {
        verdicts[i] = { ok: false, verdict: "replayed", message: `counter ${ctr} is not above ${highest}`, ctr };
        continue;
      }
      if (highest !== undefined && ctr > highest + 1) gaps.push({ lock, from: highest + 1, to: ctr - 1 });
      highest = ctr;
    }
    if (highest !== undefined && highest !== options.state(lock)?.highestCounter)
      state.set(lock, { highestCounter: highest });
  }
  const counts: Record<ReportVerdictCode, number> = {
    ok: 0,
    forged: 0,
    wrong_lock: 0,
    replayed: 0,
    malformed: 0,
    unknown_key: 0,
  };
  for (const v of verdicts) counts[v.verdict] += 1;
  return { verdicts, state, gaps, counts };
}
