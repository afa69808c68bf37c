import { randomBytes } from "node:crypto";
import { deriveReportKey, fromBase64Url, sealReport, toBase64Url, verifyLockState } from "@latchkey/protocol";
import { type BenchStore, startBenchSite } from "./site.js";

export interface ReportIngestResult {
  store: BenchStore;
  events: number;
  requests: number;
  seconds: number;
  eventsPerSecond: number;
}

/**
 * Lock-authenticated event ingest over `POST /bridge/v1/reports` (docs/reports.md "Cloud"), the only way events reach
 * the cloud (docs/bridge-api.md): the site's claimed locks each seal their unlock events under the report key of their
 * signed state (sealed before the clock starts, as locks do), batches posted one after another, every item answered
 * `ok`. The first item of each lock carries its public keys (its first report).
 */
export async function benchReportIngest(
  options: { events?: number; perRequest?: number; databaseUrl?: string } = {},
): Promise<ReportIngestResult> {
  const events = options.events ?? 20_000;
  const perRequest = Math.min(1000, options.perRequest ?? 500);
  const site = await startBenchSite(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {});
  try {
    const locks = [];
    for (const lock of site.locks) {
      const { lockId, claimSecret } = lock;
      const state = await site.call<{ state: string }>("GET", `/bridge/v1/locks/${lockId}/state`, site.bridgeToken);
      const verdict = verifyLockState(fromBase64Url(state.body.state), { lockId, claimSecret });
      if (!verdict.ok) throw new Error(`state: ${verdict.message}`);
      const { id, x } = verdict.state.reportKey;
      const key = deriveReportKey({ lockId, cloudKeyId: id, lockPrivate: lock.xPrivate, peerPublic: x });
      locks.push({ lockId, key, kid: id, keys: lock.wireKeys, seq: 0 });
    }
    const ts = Math.floor(Date.now() / 1000);
    const bodies: string[] = [];
    for (let from = 0; from < events; from += perRequest) {
      const items = [];
      for (let i = from; i < Math.min(events, from + perRequest); i++) {
        const lock = locks[i % locks.length]!;
        const seq = ++lock.seq;
        const report = sealReport({
          kind: "event",
          event: { id: new Uint8Array(randomBytes(16)), lock: lock.lockId, seq, ts, type: "unlocked" },
          ctr: seq,
          key: lock.key,
          cloudKeyId: lock.kid,
        });
        items.push({ lockId: lock.lockId, report: toBase64Url(report), ...(seq === 1 ? { keys: lock.keys } : {}) });
      }
      bodies.push(JSON.stringify({ items }));
    }
    const started = process.hrtime.bigint();
    let ok = 0;
    for (const body of bodies) {
      const res = await fetch(`${site.url}/bridge/v1/reports`, {
        method: "POST",
        headers: { authorization: `Bearer ${site.bridgeToken}`, "content-type": "application/json" },
        body,
      });
      if (res.status !== 200) throw new Error(`reports answered ${res.status}`);
      ok += ((await res.json()) as { counts: { ok: number } }).counts.ok;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (ok !== events) throw new Error(`reports accepted ${ok} of ${events} events`);
    for (const lock of locks) lock.key.fill(0);
    return { store: site.store, events, requests: bodies.length, seconds, eventsPerSecond: events / seconds };
  } finally {
    await site.close();
  }
}
