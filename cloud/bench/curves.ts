import { randomBytes } from "node:crypto";
import { keyPairFromSeed, toHex } from "@latchkey/protocol";
import { KEY_EVENT_TYPES } from "@latchkey/protocol/contracts";
import { seededRandom } from "@latchkey/protocol/testing/seeded-random";
import { keyChange } from "../src/feed/changes.js";
import { IdGenerator } from "../src/security/ids.js";
import { type KeyRecord, keyRecordOf } from "../src/store/records.js";
import { seedEventsInDatabase, seededKeyId, seededUserId } from "./seed-events.js";
import { type BenchSite, type BenchStore, startBenchSite } from "./site.js";

/**
 * Growth curves of the cloud (issue 17 item 3): how a cost grows with the lock holder's keys and events. Each size is
 * a fresh site whose rows are seeded straight into its store in batched inserts (to reach a million fast: the API
 * would spend hours), then every figure is measured through the real HTTP API.
 */

const SEED_BATCH = 5_000;
const DAY_MS = 86_400_000;
/** The phone whose prefetch is timed holds this many of the seeded keys (the issue's "a phone with 1,000 keys"). */
export const PHONE_KEYS = 1_000;
const PHONE = "+4799000001";

export interface KeyCurvePoint {
  store: BenchStore;
  keys: number;
  seedSeconds: number;
  /** `POST …/keys`, one at a time, ms. */
  createP99Ms: number;
  /** `GET …/keys?limit=100` from a random cursor, ms. */
  listPageP99Ms: number;
  /** A new bridge reads the change feed from its start to its end (pages of 500), s. */
  feedCatchUpSeconds: number;
  feedEntries: number;
  /** `GET /app/v1/keys` for a phone holding PHONE_KEYS keys (each a token minted now), ms, median. */
  prefetchMs: number;
}

export interface EventCurvePoint {
  store: BenchStore;
  events: number;
  seedSeconds: number;
  /** `GET …/events?lockId=…&action=…&limit=100` (and the user and key filters), ms. */
  filteredPageP99Ms: number;
  pages: number;
}

/** A deterministic generator: the same rows and probes every run. */
const rng = seededRandom;

const p99 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
};
const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const out = await work();
  return [out, performance.now() - started];
}

/**
 * After a seed that held this process's event loop for a minute, the client's idle keep-alive sockets and the server's
 * timeout on them expire at the same moment, and the first request may meet a reset: one harmless request (retried)
 * lets both sides drop them before anything is timed. On PostgreSQL the seeded tables are analyzed first (site.ts).
 */
async function afterSeed(site: BenchSite): Promise<void> {
  await site.analyze();
  for (let attempt = 1; ; attempt++) {
    try {
      await site.call("GET", `/integrators/v1/lock-holders/${site.lockHolderId}`, site.token);
      return;
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}

function expect<T>(what: string, answer: { status: number; body: T }, status = 200): T {
  if (answer.status !== status) throw new Error(`${what} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/**
 * Seeds `count` keys of the site's lock holder, spread over its locks, with the feed entry each creation appends
 * (as the API writes them: the same payload, in the same transaction), ids in creation order a day ago. The first
 * PHONE_KEYS belong to the phone whose prefetch is timed, the rest to a user each.
 */
export async function seedKeys(site: BenchSite, count: number): Promise<string[]> {
  const openEnded = 30 * 86_400;
  const base = Date.now() - DAY_MS;
  let clock = base;
  const ids = new IdGenerator({ now: () => clock });
  const keyIds: string[] = [];
  for (let from = 0; from < count; from += SEED_BATCH) {
    const batch: KeyRecord[] = [];
    for (let i = from; i < Math.min(count, from + SEED_BATCH); i++) {
      clock = base + Math.floor(i / 10);
      const key: KeyRecord = keyRecordOf({
        id: ids.next("key"),
        lockHolderId: site.lockHolderId,
        lockId: site.lockIds[i % site.lockIds.length]!,
        cti: randomBytes(16).toString("hex"),
        userId: i < PHONE_KEYS ? PHONE : `+4791${String(i).padStart(6, "0")}`,
        startAt: base,
        endAt: null,
        status: "created",
        createdAt: clock,
      });
      batch.push(key);
      keyIds.push(key.id);
    }
    await site.cloud.store.transaction(async (tx) => {
      await tx.keys.insertMany(batch);
      await tx.changes.appendMany(
        batch.map((k) => ({
          kind: "key" as const,
          lockHolderId: site.lockHolderId,
          vendorConnectionId: site.vendorConnectionId,
          payload: keyChange(k, openEnded),
          at: k.createdAt,
        })),
      );
    });
  }
  return keyIds;
}

/** A phone that proved PHONE's number (the bench's own OTP sender hands the code over) and registered a device key. */
async function registerPhone(site: BenchSite, codes: Map<string, string>): Promise<string> {
  const started = expect(
    "verification",
    await site.call<{ verificationId: string }>("POST", "/app/v1/verification", "", { phoneNumber: PHONE }),
    202,
  );
  const device = keyPairFromSeed(new Uint8Array(32).fill(7)).publicKey;
  const confirmed = expect(
    "confirm",
    await site.call<{ accessToken: string }>("POST", `/app/v1/verification/${started.verificationId}/confirm`, "", {
      code: codes.get(PHONE),
      devicePublicKey: toHex(device),
      deviceName: "bench phone",
    }),
  );
  return confirmed.accessToken;
}

/** One point of the keys curve: a site with `keys` keys, then creates, list pages, feed catch-up and prefetch. */
export async function benchKeyCurvePoint(options: {
  keys: number;
  databaseUrl?: string;
  /** Creates and list pages timed (default 200). */
  probes?: number;
}): Promise<KeyCurvePoint> {
  const probes = options.probes ?? 200;
  const codes = new Map<string, string>();
  const site = await startBenchSite({
    locks: 10,
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    otpSender: {
      name: "bench",
      async send(message) {
        codes.set(message.phoneNumber, message.code);
      },
    },
  });
  try {
    const [keyIds, seedMs] = await timed(() => seedKeys(site, options.keys));
    await afterSeed(site);
    const base = `/integrators/v1/lock-holders/${site.lockHolderId}`;
    const random = rng(options.keys);

    // The feed first, as a bridge new to the site would read it (before the probes add to it).
    let cursor = "";
    let entries = 0;
    const [, feedMs] = await timed(async () => {
      for (;;) {
        const page = expect(
          "changes",
          await site.call<{ cursor: string; changes: unknown[]; more: boolean }>(
            "GET",
            `/bridge/v1/changes?limit=500${cursor ? `&cursor=${cursor}` : ""}`,
            site.bridgeToken,
          ),
        );
        entries += page.changes.length;
        cursor = page.cursor;
        if (!page.more) break;
      }
    });
    if (entries < options.keys) throw new Error(`feed catch-up read ${entries} entries of at least ${options.keys}`);

    const list: number[] = [];
    for (let i = 0; i < probes; i++) {
      const after = keyIds[Math.floor(random() * keyIds.length)]!;
      const [answer, ms] = await timed(() =>
        site.call<{ keys: unknown[] }>("GET", `${base}/keys?limit=100&startAfterId=${after}`, site.token),
      );
      expect("list keys", answer);
      list.push(ms);
    }

    const create: number[] = [];
    for (let i = 0; i < probes; i++) {
      const body = {
        lockId: site.lockIds[i % site.lockIds.length],
        userId: `+4792${String(i).padStart(6, "0")}`,
        durationMinutes: 60,
      };
      const [answer, ms] = await timed(() => site.call("POST", `${base}/keys`, site.token, body));
      expect("create key", answer, 201);
      create.push(ms);
    }

    const phone = await registerPhone(site, codes);
    const prefetch: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [answer, ms] = await timed(() => site.call<{ keys: unknown[] }>("GET", "/app/v1/keys", phone));
      const got = expect("prefetch", answer).keys.length;
      if (got !== Math.min(PHONE_KEYS, options.keys)) throw new Error(`prefetch answered ${got} keys`);
      prefetch.push(ms);
    }
    return {
      store: site.store,
      keys: options.keys,
      seedSeconds: seedMs / 1000,
      createP99Ms: p99(create),
      listPageP99Ms: p99(list),
      feedCatchUpSeconds: feedMs / 1000,
      feedEntries: entries,
      prefetchMs: medianOf(prefetch),
    };
  } finally {
    await site.close();
  }
}

const TYPES = KEY_EVENT_TYPES;

/**
 * Seeds `count` events of the site's lock holder over 29 days, 10 locks, 1,000 users and keys, types mixed: generated
 * inside the database (seed-events.ts; ~25 min per store at 10M when each batch went through the store from here).
 */
async function seedEvents(site: BenchSite, count: number, log?: (message: string) => void): Promise<void> {
  await seedEventsInDatabase(
    site.seedTarget,
    {
      lockHolderId: site.lockHolderId,
      lockIds: site.lockIds,
      types: TYPES,
      count,
      nowS: Math.floor(Date.now() / 1000),
      receivedAt: Date.now(),
    },
    log,
  );
}

/** One point of the events curve: a site with `events` events, then filtered pages (lock + action, user, key). */
export async function benchEventCurvePoint(options: {
  events: number;
  databaseUrl?: string;
  probes?: number;
  log?: (message: string) => void;
}): Promise<EventCurvePoint> {
  const probes = options.probes ?? 200;
  const site = await startBenchSite({
    locks: 10,
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
  });
  try {
    const [, seedMs] = await timed(() => seedEvents(site, options.events, options.log));
    await afterSeed(site);
    const base = `/integrators/v1/lock-holders/${site.lockHolderId}/events?limit=100`;
    const random = rng(7);
    const times: number[] = [];
    for (let i = 0; i < probes; i++) {
      const n = Math.floor(random() * 1000);
      const filter = [
        `&lockId=${site.lockIds[n % site.lockIds.length]}&action=${TYPES[n % TYPES.length]}`,
        `&userId=${encodeURIComponent(seededUserId(n))}`,
        `&keyId=${seededKeyId(n)}&action=unlocked`,
      ][i % 3]!;
      const [answer, ms] = await timed(() => site.call<{ events: unknown[] }>("GET", `${base}${filter}`, site.token));
      const page = expect("events", answer);
      if (options.events >= 100_000 && page.events.length === 0) throw new Error(`events${filter}: an empty page`);
      times.push(ms);
    }
    return {
      store: site.store,
      events: options.events,
      seedSeconds: seedMs / 1000,
      filteredPageP99Ms: p99(times),
      pages: probes,
    };
  } finally {
    await site.close();
  }
}
