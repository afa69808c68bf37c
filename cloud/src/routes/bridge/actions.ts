import { fromBase64Url, toBase64Url } from "@latchkey/protocol";
import {
  ACTION_ERRORS,
  CommandAnswer,
  CommandRequest,
  errorsWithExamples,
  IdParam,
  Obj,
  ResultReport,
} from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { commandFor, reportFailure } from "../../domain/actions.js";
import { commit } from "../../domain/commit.js";
import { invalid } from "../../domain/errors.js";
import { bridgeOf } from "../../http/auth.js";
import { route, type TypedApp } from "../../http/typed.js";

const ActionIdParams = Obj({ actionId: IdParam });

/**
 * The bridge's side of remote actions (docs/bridge-api.md "Remote actions"): it carries a signed command it cannot
 * make or alter, and may say the lock could not be reached; only the lock's sealed report says an action was done.
 */
export function bridgeActionRoutes(app: TypedApp, ctx: CloudContext): void {
  app.post(
    "/actions/:actionId/command",
    route("bridge", {
      operationId: "getActionCommand",
      tags: ["bridge API"],
      summary: "The signed command for an action, over the lock's fresh command nonce",
      description:
        "Signed by the lock holder's authority with the lock's next command counter (stored before the answer); the " +
        "action becomes `sent`. The same nonce again answers the same command; another nonce is 409 " +
        "`command_already_issued` (one command per action). 409 `action_closed` once the action succeeded, failed " +
        "or expired; 404 for an action of a lock this bridge does not serve.",
      params: ActionIdParams,
      body: CommandRequest,
      response: {
        200: CommandAnswer,
        ...errorsWithExamples({
          400: [{ ...ACTION_ERRORS.badRequest, errorDescription: "body.nonce: must be 16 bytes, base64url" }],
          404: [ACTION_ERRORS.notFoundAction],
          409: [ACTION_ERRORS.closed, ACTION_ERRORS.issued],
        }),
      },
    }),
    async (request) => {
      const bridge = bridgeOf(request);
      const { actionId } = request.params;
      const { nonce } = request.body;
      let bytes: Uint8Array;
      try {
        bytes = fromBase64Url(nonce);
      } catch {
        throw invalid("body.nonce: not base64url");
      }
      // commit: the counter and the `sent` status are durable before the command leaves (docs/trust.md "Remote command").
      const answer = await commit(ctx, (tx) => commandFor(tx, ctx, bridge, actionId, bytes));
      if (answer.issued) ctx.metrics.countActions("sent");
      return { actionId: answer.actionId, lockId: answer.lockId, command: toBase64Url(answer.command) };
    },
  );

  app.post(
    "/actions/:actionId/result",
    route("bridge", {
      operationId: "reportActionResult",
      tags: ["bridge API"],
      summary: "Report that the lock could not be reached or refused the command",
      description:
        '`{ok: false, code, message?}` → 204, the action `failed` with `error.reportedBy: "bridge"`. `ok: true` is ' +
        "422 `success_from_lock_only`: an action succeeds only on the lock's sealed report. 409 `action_closed` once " +
        "it succeeded, failed or expired; 404 for an action of a lock this bridge does not serve.",
      params: ActionIdParams,
      body: ResultReport,
      response: {
        204: { type: "null", description: "recorded: the action failed" },
        ...errorsWithExamples({
          400: [{ ...ACTION_ERRORS.badRequest, errorDescription: "body.code: required when ok is false" }],
          404: [ACTION_ERRORS.notFoundAction],
          409: [ACTION_ERRORS.closed],
          422: [ACTION_ERRORS.successFromBridge],
        }),
      },
    }),
    async (request, reply) => {
      const bridge = bridgeOf(request);
      const { actionId } = request.params;
      const result = request.body;
      await commit(ctx, (tx) => reportFailure(tx, ctx, bridge, actionId, result));
      ctx.metrics.countActions("failed");
      reply.code(204).send();
    },
  );
}
