import { ChangesAnswer, ChangesQuery, errors } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { readChangeFeed } from "../../domain/change-feed.js";
import { bridgeOf } from "../../http/auth.js";
import { route, type TypedApp } from "../../http/typed.js";

/** The resumable change feed (docs/bridge-api.md), long-polled: a change wakes waiting bridges at once. */
export function changeFeedRoutes(app: TypedApp, ctx: CloudContext): void {
  app.get(
    "/changes",
    route("bridge", {
      operationId: "listChanges",
      tags: ["bridge API"],
      summary: "Change feed: keys, revocations, issuer keys, vendor connections, locks",
      querystring: ChangesQuery,
      response: { 200: ChangesAnswer, ...errors(400) },
    }),
    async (request, reply) => {
      const gone = new AbortController();
      reply.raw.once("close", () => gone.abort());
      return readChangeFeed(ctx, bridgeOf(request), request.query, gone.signal);
    },
  );
}
