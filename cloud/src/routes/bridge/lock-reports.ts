import { errors, ReportUpload, ReportUploadAnswer } from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { commit } from "../../domain/commit.js";
import { ingestReports } from "../../domain/reports.js";
import { bridgeOf } from "../../http/auth.js";

/**
 * Upload of lock-authenticated reports (docs/bridge-api.md "Reports from the lock", docs/reports.md "Cloud"). A
 * verdict per item: a refused item never refuses the others; one transaction stores the accepted ones.
 */
export function lockReportRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.post(
    "/reports",
    {
      config: { auth: "bridge" },
      // 1000 reports at the 4,352-byte cap, as base64url, plus keys and JSON.
      bodyLimit: 7 * 1024 * 1024,
      schema: {
        tags: ["bridge API"],
        summary: "Upload lock-authenticated reports (a verdict per item)",
        body: ReportUpload,
        response: { 200: ReportUploadAnswer, ...errors(400, 413) },
      },
    },
    async (request) => {
      const bridge = bridgeOf(request);
      const { items } = request.body as Static<typeof ReportUpload>;
      const { answer, gaps, actionsSucceeded } = await commit(ctx, (tx) => ingestReports(tx, ctx, bridge, items));
      // Counted once committed (ops/metrics.ts): every verdict, per lock in the store too (lock_reports.refused), and
      // refusals logged here, counts only (never a report's bytes).
      ctx.metrics.countReports(answer.counts, gaps);
      ctx.metrics.countActions("succeeded", actionsSucceeded);
      const { ok, duplicate, unclaimed, ...refused } = answer.counts;
      if (Object.values(refused).some((n) => n > 0) || unclaimed > 0) {
        request.log.warn({ bridgeId: bridge.bridgeId, counts: answer.counts }, "lock reports refused");
      }
      return answer;
    },
  );
}
