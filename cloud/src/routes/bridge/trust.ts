import { fromHex, toBase64Url } from "@latchkey/protocol";
import { errors, IdParam, LockStateAnswer, Obj, TimeAnswerBody, TimeRequestBody } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { answerLockTime, servedLockState } from "../../domain/courier.js";
import { bridgeOf } from "../../http/auth.js";
import { route, type TypedApp } from "../../http/typed.js";

const LockIdParams = Obj({ lockId: IdParam });

/** What a bridge carries to its locks: signed states and signed time (docs/bridge-api.md, docs/trust.md "Cloud"). */
export function trustCourierRoutes(app: TypedApp, ctx: CloudContext): void {
  app.get(
    "/locks/:lockId/state",
    route("bridge", {
      operationId: "getSignedLockState",
      tags: ["bridge API"],
      summary: "The latest signed state of a claimed lock this bridge serves",
      description: "Signed again when older than an hour or when anything in it changed; v rises with every signature.",
      params: LockIdParams,
      response: { 200: LockStateAnswer, ...errors(404) },
    }),
    async (request) => {
      const bridge = bridgeOf(request);
      const { lockId } = request.params;
      const signed = await ctx.store.transaction((tx) => servedLockState(tx, ctx, bridge.bridgeId, lockId));
      return { lockId, v: signed.v, iat: signed.iat, state: toBase64Url(fromHex(signed.doc)) };
    },
  );

  app.post(
    "/locks/:lockId/time",
    route("bridge", {
      operationId: "answerLockTime",
      tags: ["bridge API"],
      summary: "Answer a lock's time request with the cloud's time, signed by the lock holder's authority",
      description:
        "The request is the lock's own (`{1: lock, 2: nonce}`, docs/trust.md); 422 `invalid_message` when it does " +
        "not decode, `wrong_lock` when it names another lock than the path.",
      params: LockIdParams,
      body: TimeRequestBody,
      response: { 200: TimeAnswerBody, ...errors(400, 404, 422) },
    }),
    async (request) => {
      const bridge = bridgeOf(request);
      const { lockId } = request.params;
      const answer = await ctx.store.transaction((tx) =>
        answerLockTime(tx, ctx, bridge.bridgeId, lockId, request.body.request),
      );
      return { lockId, answer: toBase64Url(answer) };
    },
  );
}
