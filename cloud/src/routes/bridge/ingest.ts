import { errors, IngestAnswer, IngestBatch, REMOVED_INGEST_FIELDS } from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { commit } from "../../domain/commit.js";
import { bridgeOf } from "../../http/auth.js";
import { badRequest } from "../../http/errors.js";
import type { LockRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";

/**
 * What a bridge says on its own word: lock presence (its MQTT status), labelled so. Events and telemetry come only as
 * the lock's sealed reports (`POST /bridge/v1/reports`, docs/bridge-api.md): the cloud believes only the lock
 * (docs/design.md section 7), so an unsigned event or reading is refused by name rather than stored. The batch is one
 * transaction: a 2xx means all of it is durable; a refusal stores nothing.
 */
export function ingestRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.post(
    "/ingest",
    {
      config: { auth: "bridge" },
      bodyLimit: 1024 * 1024,
      // Before validation, so the answer names the removed field and where its data goes now, not "unknown field".
      preValidation: async (request) => {
        const body = request.body;
        if (typeof body !== "object" || body === null) return;
        const removed = REMOVED_INGEST_FIELDS.find((field) => Object.hasOwn(body, field));
        if (removed !== undefined) {
          throw badRequest(
            `body.${removed}: ${removed} are no longer taken here; send the lock's sealed reports to ` +
              'POST /bridge/v1/reports (docs/bridge-api.md "Reports from the lock")',
            "signed_reports_only",
          );
        }
      },
      schema: {
        tags: ["bridge API"],
        summary: "Upload lock presence (the bridge's word)",
        description:
          "Presence only. `events` or `telemetry` in the body: 400 `signed_reports_only` naming the field; they " +
          "reach the cloud only as the lock's sealed reports at POST /bridge/v1/reports. A lock this bridge does not " +
          "serve: 400 `unknown_lock` naming the item, nothing stored.",
        body: IngestBatch,
        response: { 200: IngestAnswer, ...errors(400, 413) },
      },
    },
    async (request) => {
      const bridge = bridgeOf(request);
      const presence = (request.body as Static<typeof IngestBatch>).presence ?? [];
      return commit(ctx, async (tx) => {
        // Check every item first, so a refused batch stores nothing.
        const served = new Set<string>();
        for (const [i, p] of presence.entries()) {
          if (served.has(p.lockId)) continue;
          if (!(await servedLock(tx, bridge.bridgeId, p.lockId))) {
            throw badRequest(
              `presence.${i}.lockId: lock ${JSON.stringify(p.lockId)} is not served by this bridge`,
              "unknown_lock",
            );
          }
          served.add(p.lockId);
        }
        for (const p of presence) await tx.locks.setPresence(p.lockId, p.online, p.ts);
        return { presence: { stored: presence.length } };
      });
    },
  );
}

async function servedLock(tx: Tx, bridgeId: string, lockId: string): Promise<LockRecord | undefined> {
  const lock = await tx.locks.get(lockId);
  if (!lock || lock.removedAt !== null) return undefined;
  const vc = await tx.vendorConnections.get(lock.vendorConnectionId);
  return vc && vc.bridgeId === bridgeId && vc.deletedAt === null ? lock : undefined;
}
