import { errors, IngestAnswer, IngestBatch, REMOVED_INGEST_FIELDS } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { storePresence } from "../../domain/bridge-reports.js";
import { commit } from "../../domain/commit.js";
import { invalid } from "../../domain/errors.js";
import { bridgeOf } from "../../http/auth.js";
import type { TypedApp } from "../../http/typed.js";

/**
 * What a bridge says on its own word: lock presence (its MQTT status), labelled so. Events and telemetry come only as
 * the lock's sealed reports (`POST /bridge/v1/reports`, docs/bridge-api.md): the cloud believes only the lock
 * (docs/design.md section 7), so an unsigned event or reading is refused by name rather than stored. The batch is one
 * transaction: a 2xx means all of it is durable; a refusal stores nothing.
 */
export function ingestRoutes(app: TypedApp, ctx: CloudContext): void {
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
          throw invalid(
            `body.${removed}: ${removed} are no longer taken here; send the lock's sealed reports to ` +
              'POST /bridge/v1/reports (docs/bridge-api.md "Reports from the lock")',
            "signed_reports_only",
          );
        }
      },
      schema: {
        operationId: "uploadLockPresence",
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
      const presence = request.body.presence ?? [];
      const stored = await commit(ctx, (tx) => storePresence(tx, ctx, bridge.bridgeId, presence));
      return { presence: { stored } };
    },
  );
}
