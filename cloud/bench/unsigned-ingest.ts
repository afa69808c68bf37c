import { decodeEvent, fromBase64Url } from "@latchkey/protocol";
import { errors, MAX_REPORT_ITEMS, Obj } from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../src/context.js";
import { commit } from "../src/domain/commit.js";
import { invalid } from "../src/domain/errors.js";
import { storeLockEvents } from "../src/domain/events.js";
import { incomingEvent } from "../src/domain/reports.js";
import { bridgeOf } from "../src/http/auth.js";
import type { LockRecord } from "../src/store/records.js";

/**
 * The bench's unauthenticated event ingest: the baseline of the `report-ingest` row (issue 13, "ingest of authenticated
 * reports must stay ≥ 0.5 of unauthenticated ingest measured in the same run"). The product has no such route since
 * the switch-over (docs/bridge-api.md: events reach the cloud only as the lock's sealed reports); only the bench site
 * registers this one (`startCloud({extraRoutes})`), never `buildApp`.
 *
 * Everything `POST /bridge/v1/reports` does except what authentication costs: the same fastify app and bridge bearer
 * auth, the same batch sizes and body volume (each item carries the lock's event as base64url CBOR, padded to the
 * length of its sealed report), the lock checked as served by the bridge (as the unsigned ingest did), and the same
 * events stored through the same path (domain/events.ts storeLockEvents, by domain/reports.ts incomingEvent), in one
 * transaction. Not done: the claim, the report key, the MAC, the counter and its state, the ack, and an answer per item.
 */
export const UNSIGNED_INGEST_PATH = "/bridge/v1/bench/unsigned-events";

const MAX_ITEM_TEXT = Math.ceil((4352 * 4) / 3);

const UnsignedUpload = Obj({
  items: Type.Array(
    Obj({
      lockId: Type.String({ minLength: 1, maxLength: 64 }),
      event: Type.String({ minLength: 1, maxLength: MAX_ITEM_TEXT, description: "base64url of the event's CBOR" }),
      pad: Type.String({ maxLength: MAX_ITEM_TEXT, description: "filler: the body as large as the reports'" }),
    }),
    { maxItems: MAX_REPORT_ITEMS },
  ),
});

const UnsignedAnswer = Type.Object({ stored: Type.Integer() });

export function unsignedIngestRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.post(
    UNSIGNED_INGEST_PATH,
    {
      config: { auth: "bridge" },
      bodyLimit: 7 * 1024 * 1024,
      schema: { hide: true, body: UnsignedUpload, response: { 200: UnsignedAnswer, ...errors(400, 413) } },
    },
    async (request) => {
      const bridge = bridgeOf(request);
      const { items } = request.body as Static<typeof UnsignedUpload>;
      const decoded = items.map((item, i) => {
        // The pad is decoded too, so the base64 work matches the reports' (whose whole item is decoded).
        fromBase64Url(item.pad);
        let event: ReturnType<typeof decodeEvent>;
        try {
          event = decodeEvent(fromBase64Url(item.event));
        } catch (e) {
          throw invalid(`items.${i}.event: ${(e as Error).message}`);
        }
        if (event.lock !== item.lockId) throw invalid(`items.${i}.event: names lock ${event.lock}`);
        return { lockId: item.lockId, event };
      });
      const stored = await commit(ctx, async (tx) => {
        const served = new Map<string, LockRecord>();
        for (const { lockId } of decoded) {
          if (served.has(lockId)) continue;
          const lock = await tx.locks.get(lockId);
          const vc =
            lock && lock.removedAt === null ? await tx.vendorConnections.get(lock.vendorConnectionId) : undefined;
          if (!lock || !vc || vc.bridgeId !== bridge.bridgeId || vc.deletedAt !== null)
            throw invalid(`lock ${lockId} is not served by this bridge`, "unknown_lock");
          served.set(lockId, lock);
        }
        const receivedS = Math.floor(ctx.clock.now() / 1000);
        return storeLockEvents(
          tx,
          ctx,
          decoded.map(({ lockId, event }) => ({ lock: served.get(lockId)!, event: incomingEvent(event, receivedS) })),
        );
      });
      return { stored: stored.size };
    },
  );
}
