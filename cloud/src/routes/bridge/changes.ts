import { ChangesAnswer, ChangesQuery, errors } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { read } from "../../domain/commit.js";
import { invalid } from "../../domain/errors.js";
import { bridgeOf } from "../../http/auth.js";
import type { TypedApp } from "../../http/typed.js";

const CURSOR = /^v1\.(\d{1,15})$/;

export const encodeCursor = (seq: number) => `v1.${seq}`;

function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === "") return 0;
  const match = CURSOR.exec(cursor);
  if (!match) throw invalid(`cursor ${JSON.stringify(cursor)} is not one this cloud handed out`, "invalid_cursor");
  return Number(match[1]);
}

/** The resumable change feed (docs/bridge-api.md), long-polled: a change wakes waiting bridges at once. */
export function changeFeedRoutes(app: TypedApp, ctx: CloudContext): void {
  app.get(
    "/changes",
    {
      config: { auth: "bridge" },
      schema: {
        operationId: "listChanges",
        tags: ["bridge API"],
        summary: "Change feed: keys, revocations, issuer keys, vendor connections, locks",
        querystring: ChangesQuery,
        response: { 200: ChangesAnswer, ...errors(400) },
      },
    },
    async (request, reply) => {
      const bridge = bridgeOf(request);
      const q = request.query;
      const after = decodeCursor(q.cursor);
      const limit = q.limit ?? 500;
      const deadline = Date.now() + (q.wait ?? 0) * 1000;
      const gone = new AbortController();
      reply.raw.once("close", () => gone.abort());
      for (;;) {
        const rows = await read(ctx, (tx) =>
          tx.changes.forBridge(bridge.bridgeId, bridge.lockHolderId, after, limit + 1),
        );
        const remaining = deadline - Date.now();
        if (rows.length > 0 || remaining <= 0 || gone.signal.aborted) {
          const page = rows.slice(0, limit);
          const last = page[page.length - 1];
          return {
            cursor: encodeCursor(last ? last.seq : after),
            changes: page.map((c) => ({ seq: c.seq, kind: c.kind, ...c.payload })),
            more: rows.length > limit,
          };
        }
        const woken = await ctx.notifier.wait(remaining, gone.signal);
        if (!woken && Date.now() < deadline && !gone.signal.aborted) {
          // Released by shutdown: answer now with nothing new rather than hold the server open.
          return { cursor: encodeCursor(after), changes: [], more: false };
        }
      }
    },
  );
}
