import { timingSafeEqual } from "node:crypto";
import { fromHex, isStrongPublicKey } from "@latchkey/protocol";
import {
  ConfirmVerification,
  DeviceSession,
  errors,
  IdParam,
  Obj,
  StartVerification,
  VerificationStarted,
} from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { commit } from "../../domain/commit.js";
import { admitCodeRequest, admitGuess, clearLockout, recordWrongCode } from "../../domain/otp-limits.js";
import { toE164 } from "../../domain/phone.js";
import { ApiError, badRequest, notFound, unprocessable } from "../../http/errors.js";
import { otpCodeMac } from "../../security/otp-key.js";
import { hashSecret, newSecret } from "../../security/secrets.js";

export const CODE_TTL_SECONDS = 300;
export const MAX_ATTEMPTS = 5;

/** A uniform 6-digit code (rejection sampling: no modulo bias). */
function sixDigits(random: (n: number) => Uint8Array): string {
  for (;;) {
    const n = Buffer.from(random(4)).readUInt32BE(0);
    if (n < 4_294_000_000) return (n % 1_000_000).toString().padStart(6, "0");
  }
}

/** A phone proves it holds its number with a one-time code, then registers its device key (docs/app-api.md). */
export function verificationRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.post(
    "/verification",
    {
      config: { auth: "public" },
      schema: {
        tags: ["app API"],
        summary: "Send a one-time code to a phone number",
        body: StartVerification,
        response: { 202: VerificationStarted, ...errors(400, 422, 429) },
      },
    },
    async (request, reply) => {
      const body = request.body as Static<typeof StartVerification>;
      const phoneNumber = toE164(body.phoneNumber, body.countryIso);
      if (!phoneNumber)
        throw unprocessable(
          `phoneNumber: ${JSON.stringify(body.phoneNumber)} is not a valid phone number`,
          "invalid_phone_number",
        );
      const now = ctx.clock.now();
      const code = sixDigits(ctx.random);
      const id = ctx.ids.next("ver");
      // A refusal is answered after the commit: reaching the daily limit records a lockout. A pending code of the
      // number stays valid: whoever asks for a new one must not be able to keep the real phone from verifying.
      const refused = await commit(ctx, async (tx) => {
        const refusal = await admitCodeRequest(tx, ctx.settings, now, phoneNumber, request.ip);
        if (refusal) return refusal;
        await tx.verifications.insert({
          id,
          phoneNumber,
          codeHash: otpCodeMac(ctx.otpKey, id, code),
          createdAt: now,
          expiresAt: now + CODE_TTL_SECONDS * 1000,
          attempts: 0,
          status: "pending",
        });
        return undefined;
      });
      if (refused) throw refused;
      try {
        await ctx.otpSender.send({ phoneNumber, code, expiresIn: CODE_TTL_SECONDS });
      } catch (err) {
        request.log.warn({ err: (err as Error).message, sender: ctx.otpSender.name }, "one-time code not delivered");
      }
      reply.code(202);
      return { verificationId: id, expiresIn: CODE_TTL_SECONDS };
    },
  );

  app.post(
    "/verification/:verificationId/confirm",
    {
      config: { auth: "public" },
      schema: {
        tags: ["app API"],
        summary: "Confirm the code and register the device key",
        params: Obj({ verificationId: IdParam }),
        body: ConfirmVerification,
        response: { 200: DeviceSession, ...errors(400, 404, 422, 429) },
      },
    },
    async (request) => {
      const { verificationId } = request.params as { verificationId: string };
      const body = request.body as Static<typeof ConfirmVerification>;
      const deviceKey = fromHex(body.devicePublicKey.toLowerCase());
      if (!isStrongPublicKey(deviceKey)) {
        throw unprocessable("devicePublicKey: not a valid full-order Ed25519 public key", "invalid_device_key");
      }
      const now = ctx.clock.now();
      // The attempt is counted in its own transaction, so a wrong code still uses one up.
      const verification = await commit(ctx, async (tx) => {
        const refusal = await admitGuess(tx, ctx.settings, now, request.ip);
        if (refusal) throw refusal;
        const v = await tx.verifications.get(verificationId);
        if (!v) throw notFound("verification");
        if (v.status !== "pending")
          throw badRequest("this verification is no longer open; request a new code", "verification_closed");
        if (now >= v.expiresAt) throw badRequest("the code has expired; request a new one", "code_expired");
        const attempts = await tx.verifications.recordAttempt(v.id);
        if (attempts > MAX_ATTEMPTS) {
          await tx.verifications.setStatus(v.id, "void");
          return undefined;
        }
        return v;
      });
      if (!verification) {
        throw new ApiError(429, "too_many_attempts", "too many wrong codes; request a new one");
      }
      const expected = Buffer.from(verification.codeHash);
      const given = Buffer.from(otpCodeMac(ctx.otpKey, verification.id, body.code));
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
        await commit(ctx, (tx) => recordWrongCode(tx, now, request.ip));
        throw badRequest("the code is wrong", "invalid_code");
      }
      const accessToken = newSecret(ctx.random, "lkapp_");
      const ttl = ctx.settings.appTokenTtlSeconds;
      const deviceId = ctx.ids.next("dev");
      await commit(ctx, async (tx) => {
        const v = await tx.verifications.get(verification.id);
        if (v?.status !== "pending")
          throw badRequest("this verification is no longer open; request a new code", "verification_closed");
        await tx.verifications.setStatus(verification.id, "confirmed");
        await clearLockout(tx, verification.phoneNumber);
        await tx.devices.insert({
          id: deviceId,
          userId: verification.phoneNumber,
          publicKey: body.devicePublicKey.toLowerCase(),
          name: body.deviceName ?? null,
          createdAt: now,
          deletedAt: null,
        });
        await tx.tokens.insert({
          tokenHash: hashSecret(accessToken),
          kind: "app",
          subjectId: deviceId,
          integratorId: null,
          lockHolderId: null,
          scope: `app:${verification.phoneNumber}`,
          expiresAt: now + ttl * 1000,
          issuedUnder: null,
        });
      });
      return { deviceId, accessToken, tokenType: "bearer" as const, expiresIn: ttl, userId: verification.phoneNumber };
    },
  );
}
