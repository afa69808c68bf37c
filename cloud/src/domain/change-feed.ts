import type { ChangesAnswer, ChangesQuery } from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { CloudContext } from "../context.js";
import { read } from "./commit.js";
import { invalid } from "./errors.js";

/**
 * The resumable change feed a bridge reads (docs/bridge-api.md), long-polled: a change wakes waiting bridges at once.
 * The cursor is opaque to bridges; a cursor this cloud did not hand out is `invalid` (`invalid_cursor`).
 */
const CURSOR = /^v1\.(\d{1,15})$/;

export const encodeCursor = (seq: number) => `v1.${seq}`;

function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === "") return 0;
  const match = CURSOR.exec(cursor);
  if (!match) throw invalid(`cursor ${JSON.stringify(cursor)} is not one this cloud handed out`, "invalid_cursor");
  return Number(match[1]);
}

export type ChangeFeedRequest = Static<typeof ChangesQuery>;
export type ChangePage = Static<typeof ChangesAnswer>;

/**
 * The bridge's changes after the cursor; with none yet, waits up to `wait` seconds for one (limit 500 unless asked). Answers at once with what
 * it has when `gone` aborts (the bridge hung up) or the cloud shuts down (the notifier lets waiters go).
 */
export async function readChangeFeed(
  ctx: CloudContext,
  bridge: { bridgeId: string; lockHolderId: string },
  request: ChangeFeedRequest,
  gone: AbortSignal,
): Promise<ChangePage> {
  const after = decodeCursor(request.cursor);
  const limit = request.limit ?? 500;
  const deadline = Date.now() + (request.wait ?? 0) * 1000;
  for (;;) {
    const rows = await read(ctx, (tx) => tx.changes.forBridge(bridge.bridgeId, bridge.lockHolderId, after, limit + 1));
    const remaining = deadline - Date.now();
    if (rows.length > 0 || remaining <= 0 || gone.aborted) {
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        cursor: encodeCursor(last ? last.seq : after),
        changes: page.map((c) => ({ seq: c.seq, kind: c.kind, ...c.payload })),
        more: rows.length > limit,
      };
    }
    const woken = await ctx.notifier.wait(remaining, gone);
    if (!woken && Date.now() < deadline && !gone.aborted) {
      // Released by shutdown: answer now with nothing new rather than hold the server open.
      return { cursor: encodeCursor(after), changes: [], more: false };
    }
  }
}
