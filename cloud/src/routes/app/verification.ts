import {
  ConfirmVerification,
  DeviceSession,
  errors,
  IdParam,
  Obj,
  StartVerification,
  VerificationStarted,
} from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { confirmVerification, startVerification } from "../../domain/verification.js";
import { route, type TypedApp } from "../../http/typed.js";

/** A phone proves it holds its number with a one-time code, then registers its device key (docs/app-api.md). */
export function verificationRoutes(app: TypedApp, ctx: CloudContext): void {
  app.post(
    "/verification",
    route("public", {
      operationId: "startVerification",
      tags: ["app API"],
      summary: "Send a one-time code to a phone number",
      body: StartVerification,
      response: { 202: VerificationStarted, ...errors(400, 422, 429) },
    }),
    async (request, reply) => {
      const started = await startVerification(ctx, request.body, request.ip, request.log);
      reply.code(202);
      return started;
    },
  );

  app.post(
    "/verification/:verificationId/confirm",
    route("public", {
      operationId: "confirmVerification",
      tags: ["app API"],
      summary: "Confirm the code and register the device key",
      params: Obj({ verificationId: IdParam }),
      body: ConfirmVerification,
      response: { 200: DeviceSession, ...errors(400, 404, 422, 429) },
    }),
    async (request) => {
      return confirmVerification(ctx, request.params.verificationId, request.body, request.ip);
    },
  );
}
