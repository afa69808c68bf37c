import { AppKeys, errors } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { commit } from "../../domain/commit.js";
import { prefetchKeys } from "../../domain/prefetch.js";
import { deviceOf } from "../../http/auth.js";
import { unauthorized } from "../../http/errors.js";
import { route, type TypedApp } from "../../http/typed.js";

/** Prefetch: every usable key of the phone's number on a claimed lock, each token minted for this device's key. */
export function appKeyRoutes(app: TypedApp, ctx: CloudContext): void {
  app.get(
    "/keys",
    route("app", {
      operationId: "prefetchKeys",
      tags: ["app API"],
      summary: "Prefetch: all active and scheduled keys of this phone, with tokens for this device",
      response: { 200: AppKeys, ...errors() },
    }),
    async (request) => {
      const principal = deviceOf(request);
      return commit(ctx, async (tx) => {
        const device = await tx.devices.get(principal.deviceId);
        if (!device || device.deletedAt !== null) throw unauthorized("this device was removed");
        return prefetchKeys(tx, ctx, device);
      });
    },
  );

  app.delete(
    "/device",
    route("app", {
      operationId: "forgetDevice",
      tags: ["app API"],
      summary: "Forget this device (its access tokens stop working)",
      response: { 204: { type: "null", description: "forgotten" }, ...errors() },
    }),
    async (request, reply) => {
      const principal = deviceOf(request);
      await commit(ctx, async (tx) => {
        await tx.devices.markDeleted(principal.deviceId, ctx.clock.now());
        await tx.tokens.deleteForSubject("app", principal.deviceId);
      });
      reply.code(204).send();
    },
  );
}
