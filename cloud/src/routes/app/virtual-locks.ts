import { ChallengeAnswer, errors, IdParam, Obj, UnlockAnswer, UnlockRequest } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { challengeVirtualLock, unlockVirtualLock } from "../../domain/virtual-locks.js";
import { deviceOf } from "../../http/auth.js";
import { route, type TypedApp } from "../../http/typed.js";

const LockParams = Obj({ lockId: IdParam });

/** Cloud-hosted test locks that open for real (domain/virtual-locks.ts), for phones. */
export function virtualLockRoutes(app: TypedApp, ctx: CloudContext): void {
  app.post(
    "/virtual-locks/:lockId/challenge",
    route("app", {
      operationId: "challengeVirtualLock",
      tags: ["app API"],
      summary: "Get a single-use unlock challenge from a virtual lock",
      description: "Only for a phone whose user holds a key for the lock; anyone else gets 404, as for no such lock.",
      params: LockParams,
      response: { 200: ChallengeAnswer, ...errors(404) },
    }),
    async (request) => {
      const { lockId } = request.params;
      const { userId } = deviceOf(request);
      return { nonce: await challengeVirtualLock(ctx, lockId, userId) };
    },
  );

  app.post(
    "/virtual-locks/:lockId/unlock",
    route("app", {
      operationId: "unlockVirtualLock",
      tags: ["app API"],
      summary: "Unlock a virtual lock with a key token and proof of possession",
      description:
        "Verified exactly as a lock would; 403 with the verification code (e.g. expired, revoked, bad_proof) when refused. Only for a phone whose user holds a key for the lock; anyone else gets 404, as for no such lock.",
      params: LockParams,
      body: UnlockRequest,
      response: { 200: UnlockAnswer, ...errors(400, 404) },
    }),
    async (request) => {
      const { lockId } = request.params;
      const { userId } = deviceOf(request);
      const eventId = await unlockVirtualLock(ctx, lockId, userId, request.body);
      return { result: "unlocked" as const, eventId };
    },
  );
}
