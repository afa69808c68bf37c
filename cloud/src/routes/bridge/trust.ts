import {
  decodeTimeRequest,
  fromBase64Url,
  fromHex,
  ProtocolError,
  signTimeAnswer,
  toBase64Url,
} from "@latchkey/protocol";
import { errors, IdParam, LockStateAnswer, Obj, TimeAnswerBody, TimeRequestBody } from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { authorityFor, authoritySecret } from "../../domain/authority.js";
import { latestLockState } from "../../domain/lock-state.js";
import { bridgeOf } from "../../http/auth.js";
import { notFound, unprocessable } from "../../http/errors.js";
import type { LockClaimRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";

const LockIdParams = Obj({ lockId: IdParam });

/**
 * The claim of a lock this bridge serves: the lock is under one of the bridge's live vendor connections and claimed by
 * that connection's lock holder (pending or confirmed: the state signed for a pending claim is how the lock proves
 * it). Anything else is 404, as if the lock did not exist (no other tenant is revealed, nor any other claim).
 */
async function servedClaim(tx: Tx, bridgeId: string, lockId: string): Promise<LockClaimRecord> {
  const lock = await tx.locks.get(lockId);
  const vc = lock && lock.removedAt === null ? await tx.vendorConnections.get(lock.vendorConnectionId) : undefined;
  const claim =
    lock && vc && vc.bridgeId === bridgeId && vc.deletedAt === null
      ? await tx.lockClaims.get(lockId, lock.lockHolderId)
      : undefined;
  if (!claim) throw notFound(`lock ${JSON.stringify(lockId)}`);
  return claim;
}

/** What a bridge carries to its locks: signed states and signed time (docs/bridge-api.md, docs/trust.md "Cloud"). */
export function trustCourierRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.get(
    "/locks/:lockId/state",
    {
      config: { auth: "bridge" },
      schema: {
        tags: ["bridge API"],
        summary: "The latest signed state of a claimed lock this bridge serves",
        description:
          "Signed again when older than an hour or when anything in it changed; v rises with every signature.",
        params: LockIdParams,
        response: { 200: LockStateAnswer, ...errors(404) },
      },
    },
    async (request) => {
      const bridge = bridgeOf(request);
      const { lockId } = request.params as Static<typeof LockIdParams>;
      const signed = await ctx.store.transaction(async (tx) =>
        latestLockState(tx, ctx, await servedClaim(tx, bridge.bridgeId, lockId)),
      );
      return { lockId, v: signed.v, iat: signed.iat, state: toBase64Url(fromHex(signed.doc)) };
    },
  );

  app.post(
    "/locks/:lockId/time",
    {
      config: { auth: "bridge" },
      schema: {
        tags: ["bridge API"],
        summary: "Answer a lock's time request with the cloud's time, signed by the lock holder's authority",
        description:
          "The request is the lock's own (`{1: lock, 2: nonce}`, docs/trust.md); 422 `invalid_message` when it does " +
          "not decode, `wrong_lock` when it names another lock than the path.",
        params: LockIdParams,
        body: TimeRequestBody,
        response: { 200: TimeAnswerBody, ...errors(400, 404, 422) },
      },
    },
    async (request) => {
      const bridge = bridgeOf(request);
      const { lockId } = request.params as Static<typeof LockIdParams>;
      const body = request.body as Static<typeof TimeRequestBody>;
      const answer = await ctx.store.transaction(async (tx) => {
        const claim = await servedClaim(tx, bridge.bridgeId, lockId);
        let timeRequest: ReturnType<typeof decodeTimeRequest>;
        try {
          timeRequest = decodeTimeRequest(fromBase64Url(body.request));
        } catch (e) {
          const why = e instanceof ProtocolError ? e.message : "not base64url";
          throw unprocessable(`request: not a time request (${why})`, "invalid_message");
        }
        if (timeRequest.lock !== lockId) throw unprocessable("request: it names another lock", "wrong_lock");
        const authority = await authorityFor(tx, ctx, claim.lockHolderId);
        const secretKey = authoritySecret(ctx, authority);
        try {
          return signTimeAnswer({ lock: lockId, nonce: timeRequest.nonce, time: ctx.clock.now() }, secretKey);
        } finally {
          secretKey.fill(0);
        }
      });
      return { lockId, answer: toBase64Url(answer) };
    },
  );
}
