import { benchBatchCreate, benchIngest, benchRawBaseline } from "@latchkey/cloud/bench";
import { loadSpan } from "./machine.js";
import { type BenchContext, type BenchRow, type BenchSuite, median, type RowSpec, row } from "./rows.js";

const SQLITE: RowSpec = { name: "batch-create", unit: "keys/s", target: "ratio >= 0.5" };
const POSTGRES: RowSpec = { name: "batch-create-postgres", unit: "keys/s", target: "ratio >= 0.5" };
// Ingest has no raw baseline in the issue; the cloud must take what a site's bridge sends (the bridge-events target).
// Since the switch-over (issue 13) events arrive only as the locks' sealed reports, so this is the report ingest: the
// former `report-ingest` row measured it beside the unsigned ingest, which is gone (docs/bridge-api.md).
const INGEST: RowSpec = { name: "event-ingest", unit: "events/s", target: ">= 5,000/s" };
const INGEST_POSTGRES: RowSpec = { name: "event-ingest-postgres", unit: "events/s", target: ">= 5,000/s" };

/**
 * Batch create through the Integrator API (`POST …/keys/batch` in requests of 1,000, until the last job reports
 * `succeeded`), beside the raw loop (sign each token with protocol + insert into SQLite, one transaction), alternating
 * rounds in this process. With DATABASE_URL also on PostgreSQL, against the same raw SQLite loop.
 */
export const cloudSuite: BenchSuite = {
  id: "cloud",
  // PostgreSQL only where DATABASE_URL names a database the bench may use (it makes and drops a schema there).
  rows: process.env.DATABASE_URL ? [SQLITE, POSTGRES, INGEST, INGEST_POSTGRES] : [SQLITE, INGEST],
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const keys = ctx.smoke ? 50 : 10_000;
    const rounds = ctx.smoke ? 1 : 3;
    const stores: Array<{ spec: RowSpec; databaseUrl?: string }> = [{ spec: SQLITE }];
    if (ctx.databaseUrl) stores.push({ spec: POSTGRES, databaseUrl: ctx.databaseUrl });
    const rows: BenchRow[] = [];
    for (const { spec, databaseUrl } of stores) {
      const load = loadSpan();
      const raw: number[] = [];
      const api: number[] = [];
      const ratios: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        ctx.log(`${spec.name} round ${round}/${rounds}: raw loop, then ${keys} keys through the API`);
        raw.push(benchRawBaseline({ keys }).keysPerSecond);
        api.push((await benchBatchCreate({ keys, ...(databaseUrl ? { databaseUrl } : {}) })).keysPerSecond);
        ratios.push(api.at(-1)! / raw.at(-1)!);
      }
      const ratio = median(ratios);
      rows.push(
        row(spec, {
          value: median(api),
          baseline: median(raw),
          ratio,
          met: ratio >= 0.5,
          note:
            `${keys} keys over HTTP to a cloud in this process (${databaseUrl ? "PostgreSQL" : "SQLite"}), ` +
            `${Math.ceil(keys / 1000)} requests of 1,000, timed until the last job succeeded; raw: sign + insert into ` +
            `SQLite in one transaction (the issue's baseline; the API signs nothing at creation: tokens are minted per ` +
            `device at prefetch, docs/app-api.md step 3, so a ratio above 1 is expected). Median of ${rounds} alternating rounds ` +
            `(API ${api.map((v) => v.toFixed(0)).join(", ")}; raw ${raw.map((v) => v.toFixed(0)).join(", ")}). ${load()}`,
        }),
      );
    }
    rows.push(...(await ingestRows(ctx)));
    if (!ctx.databaseUrl) ctx.log("batch-create-postgres and event-ingest-postgres skipped: DATABASE_URL is not set");
    return rows;
  },
};

/**
 * `POST /bridge/v1/reports` as a bridge uploads its outbox (batches of 500 sealed event reports, one request after
 * another; each verified, counter-checked and stored), SQLite and, with DATABASE_URL, PostgreSQL alternating in the
 * same run; the PostgreSQL row has SQLite as its baseline.
 */
async function ingestRows(ctx: BenchContext): Promise<BenchRow[]> {
  const events = ctx.smoke ? 1_000 : 20_000;
  const rounds = ctx.smoke ? 1 : 3;
  const load = loadSpan();
  const sqlite: number[] = [];
  const postgres: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    ctx.log(
      `event-ingest round ${round}/${rounds}: ${events} events${ctx.databaseUrl ? ", SQLite then PostgreSQL" : ""}`,
    );
    sqlite.push((await benchIngest({ events })).eventsPerSecond);
    if (ctx.databaseUrl) postgres.push((await benchIngest({ events, databaseUrl: ctx.databaseUrl })).eventsPerSecond);
  }
  const how =
    `${events} events as lock-authenticated reports (COSE_Mac0, docs/reports.md) over POST /bridge/v1/reports to a ` +
    `cloud in this process, batches of 500 posted one after another, each report verified, counter-checked and ` +
    `stored, timed until the last answer (every event durable); median of ${rounds} rounds`;
  const value = median(sqlite);
  const rows = [
    row(INGEST, {
      value,
      baseline: null,
      ratio: null,
      met: value >= 5000,
      note: `${how} on SQLite (${sqlite.map((v) => v.toFixed(0)).join(", ")}). ${load()}`,
    }),
  ];
  if (ctx.databaseUrl) {
    const pg = median(postgres);
    rows.push(
      row(INGEST_POSTGRES, {
        value: pg,
        baseline: value,
        ratio: pg / value,
        met: pg >= 5000,
        note:
          `${how} on PostgreSQL (${postgres.map((v) => v.toFixed(0)).join(", ")}), alternating with SQLite; ` +
          `baseline: SQLite in the same run. ${load()}`,
      }),
    );
  }
  return rows;
}
