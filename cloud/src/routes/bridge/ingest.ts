import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { commit } from "../../domain/commit.js";
import { storeLockEvents } from "../../domain/events.js";
import { bridgeOf } from "../../http/auth.js";
import { badRequest } from "../../http/errors.js";
import { IngestAnswer, IngestBatch, MAX_INGEST_ITEMS } from "../../schemas/bridge-api.js";
import { errors } from "../../schemas/common.js";
import type { LockRecord, TelemetryRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";

/**
 * Idempotent upload of events, telemetry and presence. The batch is one transaction: a 2xx means all of it is
 * durable (the bridge may then drop it from its outbox); a refusal stores nothing.
 */
export function ingestRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.post(
    "/ingest",
    {
      config: { auth: "bridge" },
      bodyLimit: 1024 * 1024,
      schema: {
        tags: ["bridge API"],
        summary: "Upload events, telemetry and presence (idempotent by item id)",
        body: IngestBatch,
        response: { 200: IngestAnswer, ...errors(400, 413) },
      },
    },
    async (request) => {
      const bridge = bridgeOf(request);
      const batch = request.body as Static<typeof IngestBatch>;
      const events = batch.events ?? [];
      const telemetry = batch.telemetry ?? [];
      const presence = batch.presence ?? [];
      const total = events.length + telemetry.length + presence.length;
      if (total > MAX_INGEST_ITEMS) throw badRequest(`the batch has ${total} items, over ${MAX_INGEST_ITEMS} in all`);

      return commit(ctx, async (tx) => {
        const served = new Map<string, LockRecord>();
        const lockFor = async (lockId: string, where: string): Promise<LockRecord> => {
          const known = served.get(lockId);
          if (known) return known;
          const lock = await servedLock(tx, bridge.bridgeId, lockId);
          if (!lock)
            throw badRequest(
              `${where}.lockId: lock ${JSON.stringify(lockId)} is not served by this bridge`,
              "unknown_lock",
            );
          served.set(lockId, lock);
          return lock;
        };
        // Check every item first, so a refused batch stores nothing.
        for (const [i, e] of events.entries()) await lockFor(e.lockId, `events.${i}`);
        for (const [i, t] of telemetry.entries()) await lockFor(t.lockId, `telemetry.${i}`);
        for (const [i, p] of presence.entries()) await lockFor(p.lockId, `presence.${i}`);

        const now = ctx.clock.now();
        const answer = {
          events: { stored: 0, duplicates: 0 },
          telemetry: { stored: 0, duplicates: 0 },
          presence: { stored: 0 },
        };
        const storedEvents = await storeLockEvents(
          tx,
          ctx,
          events.map((e) => ({
            lock: served.get(e.lockId)!,
            event: {
              id: e.id,
              seq: e.seq,
              tsS: e.ts,
              type: e.type,
              cti: e.key ?? null,
              code: e.code ?? null,
              dropped: e.dropped ?? null,
              v: e.v ?? null,
            },
          })),
        );
        countStored(
          events.map((e) => e.id),
          storedEvents,
          answer.events,
        );
        const readings = telemetry.map(
          (t): TelemetryRecord => ({
            id: t.id,
            lockId: t.lockId,
            tsS: t.ts,
            level: t.level,
            mv: t.mv,
            state: t.state,
            v: t.v ?? null,
            dropped: t.dropped ?? null,
            receivedAt: now,
          }),
        );
        const storedReadings = await tx.telemetry.insertManyIfNew(readings);
        countStored(
          readings.map((t) => t.id),
          storedReadings,
          answer.telemetry,
        );
        // Only each lock's newest new reading can change its battery (setBattery never goes back in time).
        const newest = new Map<string, TelemetryRecord>();
        const firsts = new Set<string>();
        for (const t of readings) {
          if (!storedReadings.has(t.id) || firsts.has(t.id)) continue;
          firsts.add(t.id);
          const known = newest.get(t.lockId);
          if (!known || t.tsS >= known.tsS) newest.set(t.lockId, t);
        }
        for (const t of newest.values()) {
          await tx.locks.setBattery(t.lockId, { level: t.level, mv: t.mv, state: t.state, tsS: t.tsS, updatedAt: now });
        }
        for (const p of presence) {
          await tx.locks.setPresence(p.lockId, p.online, p.ts);
          answer.presence.stored++;
        }
        return answer;
      });
    },
  );
}

/** Counts items stored (the first with each stored id) and duplicates (everything else). */
function countStored(ids: string[], stored: Set<string>, into: { stored: number; duplicates: number }): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (stored.has(id) && !seen.has(id)) into.stored++;
    else into.duplicates++;
    seen.add(id);
  }
}

async function servedLock(tx: Tx, bridgeId: string, lockId: string): Promise<LockRecord | undefined> {
  const lock = await tx.locks.get(lockId);
  if (!lock || lock.removedAt !== null) return undefined;
  const vc = await tx.vendorConnections.get(lock.vendorConnectionId);
  return vc && vc.bridgeId === bridgeId && vc.deletedAt === null ? lock : undefined;
}
