import { errors, ReportUpload, ReportUploadAnswer } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { uploadReports } from "../../domain/reports.js";
import { bridgeOf } from "../../http/auth.js";
import type { TypedApp } from "../../http/typed.js";

/**
 * Upload of lock-authenticated reports (docs/bridge-api.md "Reports from the lock", docs/reports.md "Cloud"). A
 * verdict per item: a refused item never refuses the others; one transaction stores the accepted ones.
 */
export function lockReportRoutes(app: TypedApp, ctx: CloudContext): void {
  app.post(
    "/reports",
    {
      config: { auth: "bridge" },
      // 1000 reports at the 4,352-byte cap, as base64url, plus keys and JSON.
      bodyLimit: 7 * 1024 * 1024,
      schema: {
        operationId: "uploadLockReports",
        tags: ["bridge API"],
        summary: "Upload lock-authenticated reports (a verdict per item)",
        body: ReportUpload,
        response: { 200: ReportUploadAnswer, ...errors(400, 413) },
      },
    },
    async (request) => {
      const bridge = bridgeOf(request);
      const { items } = request.body;
      const answer = await uploadReports(ctx, bridge, items);
      // Refusals are logged, counts only (never a report's bytes).
      const { ok, duplicate, unclaimed, ...refused } = answer.counts;
      if (Object.values(refused).some((n) => n > 0) || unclaimed > 0) {
        request.log.warn({ bridgeId: bridge.bridgeId, counts: answer.counts }, "lock reports refused");
      }
      return answer;
    },
  );
}
