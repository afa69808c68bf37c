import { randomBytes } from "node:crypto";
import { type BenchStore, startBenchSite } from "./site.js";

export interface IngestResult {
  store: BenchStore;
  events: number;
  requests: number;
  seconds: number;
  eventsPerSecond: number;
}

/**
 * Event ingest over `POST /bridge/v1/ingest`, as a bridge uploads its outbox: batches of unlock events (each naming a
 * real key) posted one after another, every one answered `stored`. Timed from the first POST to the last answer, which
 * (docs/bridge-api.md) means every event is durable.
 */
export async function benchIngest(
  options: { events?: number; perRequest?: number; databaseUrl?: string } = {},
): Promise<IngestResult> {
  const events = options.events ?? 20_000;
  const perRequest = Math.min(1000, options.perRequest ?? 500);
  const site = await startBenchSite(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {});
  try {
    const base = `/integrators/v1/lock-holders/${site.lockHolderId}`;
    const ctis: string[] = [];
    for (const lockId of site.lockIds) {
      const key = await site.call<{ id: string }>("POST", `${base}/keys`, site.token, {
        lockId,
        userId: "+4791234567",
        durationMinutes: 600,
      });
      if (key.status !== 201) throw new Error(`key answered ${key.status}`);
    }
    const feed = await site.call<{ changes: { kind: string; lockId: string; cti: string }[] }>(
      "GET",
      "/bridge/v1/changes?limit=1000",
      site.bridgeToken,
    );
    const ctiOf = new Map(feed.body.changes.filter((c) => c.kind === "key").map((c) => [c.lockId, c.cti]));
    for (const lockId of site.lockIds) ctis.push(ctiOf.get(lockId)!);
    const ts = Math.floor(Date.now() / 1000);
    const bodies: string[] = [];
    const seq = new Map<string, number>();
    for (let from = 0; from < events; from += perRequest) {
      const items = [];
      for (let i = from; i < Math.min(events, from + perRequest); i++) {
        const lock = i % site.lockIds.length;
        const lockId = site.lockIds[lock]!;
        const next = (seq.get(lockId) ?? 0) + 1;
        seq.set(lockId, next);
        items.push({ id: randomBytes(16).toString("hex"), lockId, seq: next, ts, type: "unlocked", key: ctis[lock] });
      }
      bodies.push(JSON.stringify({ events: items }));
    }
    const started = process.hrtime.bigint();
    let stored = 0;
    for (const body of bodies) {
      const res = await fetch(`${site.url}/bridge/v1/ingest`, {
        method: "POST",
        headers: { authorization: `Bearer ${site.bridgeToken}`, "content-type": "application/json" },
        body,
      });
      if (res.status !== 200) throw new Error(`ingest answered ${res.status}`);
      stored += ((await res.json()) as { events: { stored: number } }).events.stored;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (stored !== events) throw new Error(`ingest stored ${stored} of ${events} events`);
    return { store: site.store, events, requests: bodies.length, seconds, eventsPerSecond: events / seconds };
  } finally {
    await site.close();
  }
}
