import {
  benchEventCurvePoint,
  benchKeyCurvePoint,
  type EventCurvePoint,
  type KeyCurvePoint,
  PHONE_KEYS,
} from "@latchkey/cloud/bench";
import { curveRow } from "./curve-rows.js";
import { sizeLabel } from "./fit.js";
import { loadSpan } from "./machine.js";
import type { BenchContext, BenchRow, BenchSuite, RowSpec } from "./rows.js";

/** The stores a curve runs on: SQLite always, PostgreSQL where DATABASE_URL names one the bench may use. */
const STORES = process.env.DATABASE_URL ? (["sqlite", "postgres"] as const) : (["sqlite"] as const);
const suffix = (store: string) => (store === "postgres" ? "-postgres" : "");
const specs = (name: string, unit: string, target: string): RowSpec[] =>
  STORES.map((store) => ({ name: `${name}${suffix(store)}`, unit, target }));

const CREATE = "curve-keys-create-p99";
const LIST = "curve-keys-list-page-p99";
const FEED = "curve-keys-feed-catch-up";
const PREFETCH = "curve-keys-prefetch";
const EVENTS = "curve-events-filtered-page-p99";
const PER_REQUEST = "fit constant or log";
const KEY_ROWS: Array<[string, string, string, keyof KeyCurvePoint, "log" | "linear"]> = [
  [CREATE, "ms", PER_REQUEST, "createP99Ms", "log"],
  [LIST, "ms", PER_REQUEST, "listPageP99Ms", "log"],
  [FEED, "s", "fit linear or better (a new bridge reads every entry)", "feedCatchUpSeconds", "linear"],
  [PREFETCH, "ms", PER_REQUEST, "prefetchMs", "log"],
];

function keySizes(ctx: BenchContext): number[] {
  if (ctx.smoke) return [200, 400];
  return ctx.full ? [10_000, 100_000, 1_000_000] : [10_000, 100_000];
}

function eventSizes(ctx: BenchContext): number[] {
  if (ctx.smoke) return [1_000, 2_000];
  return ctx.full ? [100_000, 1_000_000, 10_000_000] : [100_000, 1_000_000];
}

const storeName = (store: string) => (store === "postgres" ? "PostgreSQL" : "SQLite");

/**
 * Keys per lock holder (issue 17 item 3): for each size a fresh cloud in this process whose lock holder has that many
 * keys (seeded in batched inserts with their feed entries), then through the HTTP API: single creates, list pages from
 * random cursors, a new bridge's change-feed catch-up and the prefetch of a phone holding 1,000 of the keys.
 */
export const keysCurveSuite: BenchSuite = {
  id: "keys-curve",
  optIn: true,
  rows: KEY_ROWS.flatMap(([name, unit, target]) => specs(name, unit, target)),
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const probes = ctx.smoke ? 10 : 200;
    const load = loadSpan();
    const points = new Map<string, KeyCurvePoint[]>();
    for (const store of STORES) {
      for (const keys of keySizes(ctx)) {
        ctx.log(`${storeName(store)}: ${sizeLabel(keys)} keys`);
        const point = await benchKeyCurvePoint({
          keys,
          probes,
          ...(store === "postgres" ? { databaseUrl: ctx.databaseUrl! } : {}),
        });
        ctx.log(`  ${JSON.stringify(point)}`);
        points.set(store, [...(points.get(store) ?? []), point]);
      }
    }
    const note = (store: string, what: string) =>
      `${storeName(store)}, one lock holder over 10 locks, rows seeded in batches of 5,000 (seed ` +
      `${points
        .get(store)!
        .map((p) => `${sizeLabel(p.keys)} ${p.seedSeconds.toFixed(1)} s`)
        .join(", ")}); ${what}. ${load()}`;
    return KEY_ROWS.flatMap(([name, unit, target, field, expected]) =>
      STORES.map((store) =>
        curveRow(
          { name: `${name}${suffix(store)}`, unit, target },
          {
            points: points.get(store)!.map((p) => ({ size: p.keys, value: p[field] as number })),
            expected,
            plot: name,
            series: storeName(store),
            note: note(
              store,
              {
                createP99Ms: `p99 of ${probes} POST …/keys one after another`,
                listPageP99Ms: `p99 of ${probes} GET …/keys?limit=100&startAfterId=<a random seeded key>`,
                feedCatchUpSeconds: "GET /bridge/v1/changes?limit=500 from no cursor until more=false",
                prefetchMs: `median of 3 GET /app/v1/keys for a phone holding ${PHONE_KEYS} keys (a token minted each)`,
              }[field as string]!,
            ),
          },
        ),
      ),
    );
  },
};

/**
 * Events in the cloud (issue 17 item 3): for each size a fresh cloud whose lock holder has that many events over the
 * last 29 days (10 locks, 1,000 users and keys, four actions; generated inside the database, cloud/bench/seed-events.ts),
 * then filtered pages of 100 through the HTTP API:
 * lock and action, user, key and action in turn.
 */
export const eventsCurveSuite: BenchSuite = {
  id: "events-curve",
  optIn: true,
  rows: specs(EVENTS, "ms", PER_REQUEST),
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const probes = ctx.smoke ? 9 : 300;
    const load = loadSpan();
    const rows: BenchRow[] = [];
    for (const store of STORES) {
      const points: EventCurvePoint[] = [];
      for (const events of eventSizes(ctx)) {
        ctx.log(`${storeName(store)}: ${sizeLabel(events)} events`);
        const point = await benchEventCurvePoint({
          events,
          probes,
          log: ctx.log,
          ...(store === "postgres" ? { databaseUrl: ctx.databaseUrl! } : {}),
        });
        ctx.log(`  ${JSON.stringify(point)}`);
        points.push(point);
      }
      rows.push(
        curveRow(
          { name: `${EVENTS}${suffix(store)}`, unit: "ms", target: PER_REQUEST },
          {
            points: points.map((p) => ({ size: p.events, value: p.filteredPageP99Ms })),
            expected: "log",
            plot: EVENTS,
            series: storeName(store),
            note:
              `${storeName(store)}: p99 of ${probes} GET …/events?limit=100 with lockId+action, userId, keyId+action in ` +
              `turn; seeded inside the database (${points.map((p) => `${sizeLabel(p.events)} ${p.seedSeconds.toFixed(0)} s`).join(", ")}). ${load()}`,
          },
        ),
      );
    }
    return rows;
  },
};
