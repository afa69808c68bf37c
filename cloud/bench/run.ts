import { parseArgs } from "node:util";
import { benchCloud } from "./index.js";

/**
 * `npm run bench -w cloud [-- --keys N --events N --smoke]`: batch create and ingest on SQLite and, when DATABASE_URL
 * is set, on PostgreSQL, beside the raw baseline, in one run.
 */
const { values } = parseArgs({
  options: { keys: { type: "string" }, events: { type: "string" }, smoke: { type: "boolean" } },
});
const count = (value: string | undefined, name: string, fallback: number) => {
  if (value === undefined) return fallback;
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1) {
    console.error(`--${name} must be a whole number from 1 to 9999999`);
    process.exit(2);
  }
  return Number(value);
};
const result = await benchCloud({
  keys: count(values.keys, "keys", values.smoke ? 50 : 10_000),
  events: count(values.events, "events", values.smoke ? 100 : 20_000),
  ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
  log: (m) => console.error(m),
});
const fixed = (n: number) => n.toFixed(0).padStart(8);
console.log(
  `raw baseline        ${fixed(result.raw.keysPerSecond)} keys/s   (sign + SQLite insert, ${result.raw.keys} keys)`,
);
for (const r of result.batchCreate) {
  console.log(
    `batch create ${r.store.padEnd(8)} ${fixed(r.keysPerSecond)} keys/s   (${r.keys} keys, ${r.requests} requests)`,
  );
}
for (const [i, r] of result.ingest.entries()) {
  const u = result.unsignedIngest[i]!;
  console.log(
    `ingest ${r.store.padEnd(14)} ${fixed(r.eventsPerSecond)} events/s (${r.events} sealed reports, ${r.requests} requests)`,
  );
  console.log(
    `unsigned ${u.store.padEnd(12)} ${fixed(u.eventsPerSecond)} events/s (the same events unauthenticated, bench only)`,
  );
}
console.log(
  `batch create on SQLite / raw baseline = ${result.batchCreateRatio.toFixed(2)} (target >= 0.5, ${result.batchCreateRatio >= 0.5 ? "met" : "MISSED"})`,
);
console.log(
  `report ingest on SQLite / unsigned ingest = ${result.reportIngestRatio.toFixed(2)} (target >= 0.5, ${result.reportIngestRatio >= 0.5 ? "met" : "MISSED"})`,
);
