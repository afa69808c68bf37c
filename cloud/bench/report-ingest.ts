import { randomBytes } from "node:crypto";
import {
  deriveReportKey,
  encodeEvent,
  fromBase64Url,
  type LockEvent,
  sealReport,
  toBase64Url,
  verifyLockState,
} from "@latchkey/protocol";
import { type BenchSite, type BenchStore, startBenchSite } from "./site.js";
import { UNSIGNED_INGEST_PATH } from "./unsigned-ingest.js";

export interface ReportIngestResult {
  store: BenchStore;
  events: number;
  requests: number;
  seconds: number;
  eventsPerSecond: number;
  /** Request bodies, in bytes, summed (the baseline's must match the reports'). */
  bodyBytes: number;
}

export interface IngestBenchOptions {
  events?: number;
  perRequest?: number;
  databaseUrl?: string;
}

/** A bench lock keyed for reports: its report key from the cloud's key named in its signed state. */
export interface KeyedLock {
  lockId: string;
  key: Uint8Array;
  kid: Uint8Array;
  keys: { identity: string; x25519: string };
  seq: number;
}

export async function keyedLocks(site: BenchSite): Promise<KeyedLock[]> {
  const locks: KeyedLock[] = [];
  for (const lock of site.locks) {
    const { lockId, claimSecret } = lock;
    const state = await site.bridge.lockState(lockId);
    const verdict = verifyLockState(fromBase64Url(state.state), { lockId, claimSecret });
    if (!verdict.ok) throw new Error(`state: ${verdict.message}`);
    const { id, x } = verdict.state.reportKey;
    const key = deriveReportKey({ lockId, cloudKeyId: id, lockPrivate: lock.xPrivate, peerPublic: x });
    locks.push({ lockId, key, kid: id, keys: lock.wireKeys, seq: 0 });
  }
  return locks;
}

/**
 * The events a site's locks send, round robin, each lock's seq (and report counter) from 1, in request bodies of
 * `perRequest`: what a bridge's outbox uploads. `item` makes one body item of an event and its sealed report.
 */
export function bodiesOf(
  locks: KeyedLock[],
  events: number,
  perRequest: number,
  item: (lock: KeyedLock, event: LockEvent, report: Uint8Array) => unknown,
): string[] {
  const ts = Math.floor(Date.now() / 1000);
  const bodies: string[] = [];
  for (let from = 0; from < events; from += perRequest) {
    const items = [];
    for (let i = from; i < Math.min(events, from + perRequest); i++) {
      const lock = locks[i % locks.length]!;
      const seq = ++lock.seq;
      const event: LockEvent = {
        id: new Uint8Array(randomBytes(16)),
        lock: lock.lockId,
        seq,
        ts,
        type: "unlocked",
      };
      const report = sealReport({ kind: "event", event, ctr: seq, key: lock.key, cloudKeyId: lock.kid });
      items.push(item(lock, event, report));
    }
    bodies.push(JSON.stringify({ items }));
  }
  return bodies;
}

/** Posts the bodies one after another, as a bridge uploads; answers the seconds until the last answer. */
async function postAll(
  site: BenchSite,
  path: string,
  bodies: string[],
  stored: (answer: unknown) => number,
  events: number,
): Promise<number> {
  const started = process.hrtime.bigint();
  let total = 0;
  for (const body of bodies) {
    const res = await fetch(`${site.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${site.bridge.accessToken}`, "content-type": "application/json" },
      body,
    });
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
    total += stored(await res.json());
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (total !== events) throw new Error(`${path} stored ${total} of ${events} events`);
  return seconds;
}

async function run(
  options: IngestBenchOptions,
  how: (site: BenchSite, locks: KeyedLock[], events: number, perRequest: number) => Promise<[number, string[]]>,
): Promise<ReportIngestResult> {
  const events = options.events ?? 20_000;
  const perRequest = Math.min(1000, options.perRequest ?? 500);
  const site = await startBenchSite(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {});
  try {
    const locks = await keyedLocks(site);
    const [seconds, bodies] = await how(site, locks, events, perRequest);
    for (const lock of locks) lock.key.fill(0);
    return {
      store: site.store,
      events,
      requests: bodies.length,
      seconds,
      eventsPerSecond: events / seconds,
      bodyBytes: bodies.reduce((n, b) => n + Buffer.byteLength(b), 0),
    };
  } finally {
    await site.close();
  }
}

/**
 * Lock-authenticated event ingest over `POST /bridge/v1/reports` (docs/reports.md "Cloud"), the only way events reach
 * the cloud (docs/bridge-api.md): the site's claimed locks each seal their unlock events under the report key of their
 * signed state (sealed before the clock starts, as locks do), batches posted one after another, every item answered
 * `ok`. The first item of each lock carries its public keys (its first report).
 */
export function benchReportIngest(options: IngestBenchOptions = {}): Promise<ReportIngestResult> {
  return run(options, async (site, locks, events, perRequest) => {
    const bodies = bodiesOf(locks, events, perRequest, (lock, event, report) => ({
      lockId: lock.lockId,
      report: toBase64Url(report),
      ...(event.seq === 1 ? { keys: lock.keys } : {}),
    }));
    const seconds = await postAll(
      site,
      "/bridge/v1/reports",
      bodies,
      (a) => (a as { counts: { ok: number } }).counts.ok,
      events,
    );
    return [seconds, bodies];
  });
}

const PAD_ITEM_OVERHEAD = ',"pad":""'.length - 1;

/**
 * The baseline of the `report-ingest` row: the same events of the same locks, in the same batches, through the bench
 * site's unauthenticated ingest (bench/unsigned-ingest.ts): each item the event's CBOR and a pad, as long as its sealed
 * report's item, so the bodies weigh the same. Sealed before the clock starts too (only to know that length).
 */
export function benchUnsignedIngest(options: IngestBenchOptions = {}): Promise<ReportIngestResult> {
  return run(options, async (site, locks, events, perRequest) => {
    const bodies = bodiesOf(locks, events, perRequest, (lock, event, report) => {
      const text = toBase64Url(encodeEvent(event));
      // As many characters as the report's base64url, less what the item's longer JSON spells (`"event"` for
      // `"report"` and `,"pad":""`): the same body within a character per item.
      const padChars = toBase64Url(report).length - text.length - PAD_ITEM_OVERHEAD;
      return {
        lockId: lock.lockId,
        event: text,
        pad: toBase64Url(new Uint8Array(Math.max(0, Math.floor((padChars * 3) / 4)))),
      };
    });
    const seconds = await postAll(site, UNSIGNED_INGEST_PATH, bodies, (a) => (a as { stored: number }).stored, events);
    return [seconds, bodies];
  });
}
