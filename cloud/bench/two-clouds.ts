import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { fromHex, toBase64Url } from "@latchkey/protocol";
import { BridgeApiClient, IntegratorApiClient } from "@latchkey/protocol/clients";
import { Client, escapeIdentifier } from "pg";
import { withSearchPath } from "../src/store/postgres/url.js";
import { withPgActivity } from "./pg-activity.js";
import { cpuMs } from "./process-cpu.js";
import { bodiesOf, type KeyedLock, keyedLocks } from "./report-ingest.js";
import { type BenchLock, type BenchSite, rawCall } from "./site.js";

/**
 * Two cloud processes on one PostgreSQL (issue 17 item 5): event ingest and batch create with one process and with
 * two, in the same run, on one schema. The load is the same both ways (two upload streams, each over half the locks
 * so each lock's reports stay in counter order; two batch streams): one process takes both streams, or each process
 * one. The clouds are processes of their own (cloud-process.js), so the driver's CPU is in neither; the second is
 * started for the two-process measurement only (its job worker would otherwise take batch jobs in the first).
 */

const CHILD = fileURLToPath(new URL("./cloud-process.js", import.meta.url));
/**
 * Events sent untimed before each ingest measurement, ten requests of 500 a stream (fewer in a smoke run): with two
 * requests the second process, new for each measurement, still spent ~2.5 times the first's CPU per event.
 */
const WARM_UP_EVENTS = 10000;

export interface TwoCloudsMeasure {
  /** events/s, or keys/s until the last job succeeded. */
  perSecond: number;
  /** CPU ms per 1,000 items of each cloud process and of this driver (Linux /proc; null elsewhere). */
  cpuPerThousand: { a: number | null; b: number | null; driver: number };
  /** Requests the cloud answered 5xx and the driver sent again (a serialization failure past the store's retries). */
  resent: number;
  /**
   * PostgreSQL over the same work (pg-activity.ts): its backends' CPU ms per 1,000 items, the share of the machine's
   * cores busy (everything on it), the mean active backends, and what the active ones waited on.
   */
  postgres: {
    cpuPerThousand: number | null;
    machineBusy: number | null;
    activeBackends: number;
    waits: Record<string, number>;
    /** The database's transactions committed and rolled back (pg_stat_database; approximate). */
    commits: number;
    rollbacks: number;
  };
}

export interface TwoCloudsResult {
  events: number;
  keys: number;
  rounds: number;
  ingest: { one: TwoCloudsMeasure[]; two: TwoCloudsMeasure[] };
  batch: { one: TwoCloudsMeasure[]; two: TwoCloudsMeasure[] };
}

interface CloudChild {
  child: ChildProcess;
  info: Record<string, unknown> & { url: string };
  stop(): Promise<void>;
}

async function startChild(role: "site" | "peer", env: Record<string, string>): Promise<CloudChild> {
  const child = spawn(process.execPath, [CHILD, role], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let err = "";
  child.stderr!.on("data", (c: Buffer) => {
    err = (err + c.toString()).slice(-2000);
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once("exit", (code) => reject(new Error(`cloud process ${role} exited with ${code}: ${err}`)));
  });
  return {
    child,
    info: JSON.parse(line),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** The site the `site` process set up, as the bench's helpers read it (they call over HTTP only). */
async function remoteSite(info: Record<string, unknown> & { url: string }, databaseUrl: string): Promise<BenchSite> {
  const locks = (info.locks as Array<Record<string, unknown>>).map(
    (l): BenchLock => ({
      lockId: l.lockId as string,
      claimSecret: fromHex(l.claimSecret as string),
      xPrivate: fromHex(l.xPrivate as string),
      keys: { identityKey: fromHex(l.identityKey as string), agreementKey: fromHex(l.agreementKey as string) },
      wireKeys: l.wireKeys as BenchLock["wireKeys"],
    }),
  );
  const call = rawCall(info.url);
  const credentials = info.credentials as BenchSite["credentials"];
  return {
    store: "postgres",
    url: info.url,
    cloud: undefined as never,
    integrator: await IntegratorApiClient.login(info.url, credentials.integrator),
    bridge: await BridgeApiClient.login(info.url, credentials.bridge),
    credentials,
    token: info.token as string,
    lockHolderId: info.lockHolderId as string,
    vendorConnectionId: info.vendorConnectionId as string,
    bridgeToken: info.bridgeToken as string,
    lockIds: locks.map((l) => l.lockId),
    locks,
    seedTarget: { store: "postgres", url: databaseUrl },
    call,
    analyze: async () => {},
    close: async () => {},
  };
}

/**
 * Answers of 5xx the driver met and sent again, as a bridge does (an upload or a batch request the cloud failed was
 * rolled back whole): on PostgreSQL, a transaction that still meets a serialization failure after the store's own
 * retries (store/postgres/pg-store.ts) answers 500. Counted per measurement.
 */
const resent = { count: 0 };

async function post(url: string, path: string, token: string, body: string): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    });
    if (res.status >= 500 && attempt < 20) {
      await res.text();
      resent.count++;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
      continue;
    }
    if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
    return res.json();
  }
}

/** Runs `work` timed, with the CPU each process spent on it per 1,000 items. */
async function measure(
  items: number,
  databaseUrl: string,
  pids: { a: number | undefined; b: number | undefined },
  work: () => Promise<void>,
): Promise<TwoCloudsMeasure> {
  const before = { a: cpuMs(pids.a), b: cpuMs(pids.b), driver: process.cpuUsage() };
  resent.count = 0;
  const started = performance.now();
  const [, pg] = await withPgActivity(databaseUrl, work);
  const seconds = (performance.now() - started) / 1000;
  const per = (x: number | null, y: number | null) => (x === null || y === null ? null : ((y - x) * 1000) / items);
  const driver = process.cpuUsage(before.driver);
  return {
    perSecond: items / seconds,
    cpuPerThousand: {
      a: per(before.a, cpuMs(pids.a)),
      b: per(before.b, cpuMs(pids.b)),
      driver: ((driver.user + driver.system) / 1000 / items) * 1000,
    },
    resent: resent.count,
    postgres: {
      cpuPerThousand: pg.backendCpuMs === null ? null : (pg.backendCpuMs * 1000) / items,
      machineBusy: pg.machineBusy,
      activeBackends: pg.activeBackends,
      waits: pg.waits,
      commits: pg.commits,
      rollbacks: pg.rollbacks,
    },
  };
}

/**
 * Two upload streams' request bodies of sealed reports, each over half the locks, made before the clock starts:
 * sealing 20,000 reports is the driver's work (~0.4 s in which no request was in flight), not the clouds'.
 */
function ingestBodies(halves: KeyedLock[][], events: number): string[][] {
  return halves.map((locks) =>
    bodiesOf(locks, events / 2, 500, (lock, event, report) => ({
      lockId: lock.lockId,
      report: toBase64Url(report),
      ...(event.seq === 1 ? { keys: lock.keys } : {}),
    })),
  );
}

/** Posts each stream's bodies to its cloud, `urls[0]` and `urls[1]`, one after another, both streams at once. */
async function ingest(site: BenchSite, streams: string[][], perStream: number, urls: [string, string]): Promise<void> {
  await Promise.all(
    streams.map(async (bodies, i) => {
      const expected = perStream;
      let ok = 0;
      for (const body of bodies)
        ok += ((await post(urls[i]!, "/bridge/v1/reports", site.bridgeToken, body)) as { counts: { ok: number } })
          .counts.ok;
      if (ok !== expected) throw new Error(`stream ${i} stored ${ok} of ${expected} events`);
    }),
  );
}

/** Two streams of batch creates (requests of 1,000), to `urls[0]` and `urls[1]`, until every job succeeded. */
async function batch(site: BenchSite, keys: number, urls: [string, string]): Promise<void> {
  const base = `/integrators/v1/lock-holders/${site.lockHolderId}`;
  const jobs: string[] = [];
  await Promise.all(
    urls.map(async (url, stream) => {
      for (let from = stream * 1000; from < keys; from += 2000) {
        const items = Array.from({ length: Math.min(1000, keys - from) }, (_, i) => ({
          lockId: site.lockIds[(from + i) % site.lockIds.length],
          userId: `+4791${String(from + i).padStart(6, "0")}`,
          durationMinutes: 60,
        }));
        const answer = (await post(url, `${base}/keys/batch`, site.token, JSON.stringify({ keys: items }))) as {
          jobId: string;
        };
        jobs.push(answer.jobId);
      }
    }),
  );
  for (const jobId of jobs) {
    for (;;) {
      const job = await site.call<{ status: string }>("GET", `/integrators/v1/jobs/${jobId}`, site.token);
      if (job.body.status === "succeeded") break;
      if (job.body.status === "failed") throw new Error(`batch job ${jobId} failed`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

export async function benchTwoClouds(options: {
  databaseUrl: string;
  events?: number;
  keys?: number;
  rounds?: number;
  log?: (message: string) => void;
}): Promise<TwoCloudsResult> {
  const events = options.events ?? 20_000;
  const keys = options.keys ?? 10_000;
  const rounds = options.rounds ?? 3;
  const log = options.log ?? (() => {});
  const schema = `lk_bench_two_${process.pid}_${randomBytes(4).toString("hex")}`;
  const env = {
    BENCH_DATABASE_URL: options.databaseUrl,
    BENCH_SCHEMA: schema,
    BENCH_MASTER_KEY: randomBytes(32).toString("hex"),
  };
  const result: TwoCloudsResult = {
    events,
    keys,
    rounds,
    ingest: { one: [], two: [] },
    batch: { one: [], two: [] },
  };
  let a: CloudChild | undefined;
  try {
    a = await startChild("site", env);
    const site = await remoteSite(a.info, withSearchPath(options.databaseUrl, schema));
    const locks = await keyedLocks(site);
    const halves = [locks.slice(0, locks.length / 2), locks.slice(locks.length / 2)];
    for (let round = 1; round <= rounds; round++) {
      // Alternate which goes first, so neither always meets a warmer database.
      for (const processes of round % 2 === 1 ? [1, 2] : [2, 1]) {
        const b = processes === 2 ? await startChild("peer", env) : undefined;
        try {
          const urls: [string, string] = [site.url, b?.info.url ?? site.url];
          const pids = { a: a.child.pid, b: b?.child.pid };
          log(`round ${round}/${rounds}, ${processes} process(es): ${events} events, ${keys} keys`);
          // Untimed first, so a cloud just started is not measured while its code is still cold (the first process
          // has served the rounds before; the second is new each time).
          const warmUp = Math.min(WARM_UP_EVENTS, events);
          await ingest(site, ingestBodies(halves, warmUp), warmUp / 2, urls);
          const streams = ingestBodies(halves, events);
          const m1 = await measure(events, options.databaseUrl, pids, () => ingest(site, streams, events / 2, urls));
          const m2 = await measure(keys, options.databaseUrl, pids, () => batch(site, keys, urls));
          result.ingest[processes === 1 ? "one" : "two"].push(m1);
          result.batch[processes === 1 ? "one" : "two"].push(m2);
        } finally {
          await b?.stop();
        }
      }
    }
    return result;
  } finally {
    await a?.stop();
    const admin = new Client({ connectionString: options.databaseUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`);
    await admin.end();
  }
}
