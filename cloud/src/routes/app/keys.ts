import { fromHex, prefetchKeysUrl, toBase64Url } from "@latchkey/protocol";
import { AppKeys, errors, iso, isoOrNull } from "@latchkey/protocol/contracts";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { claimedByHolder } from "../../domain/claims.js";
import { commit } from "../../domain/commit.js";
import { mintKeyToken, tokenWindow } from "../../domain/issuers.js";
import { keyState, keyUseUrl } from "../../domain/keys.js";
import { latestLockState } from "../../domain/lock-state.js";
import { deviceOf } from "../../http/auth.js";
import { unauthorized } from "../../http/errors.js";

/** Prefetch: every usable key of the phone's number on a claimed lock, each token minted for this device's key. */
export function appKeyRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.get(
    "/keys",
    {
      config: { auth: "app" },
      schema: {
        tags: ["app API"],
        summary: "Prefetch: all active and scheduled keys of this phone, with tokens for this device",
        response: { 200: AppKeys, ...errors() },
      },
    },
    async (request) => {
      const principal = deviceOf(request);
      return commit(ctx, async (tx) => {
        const device = await tx.devices.get(principal.deviceId);
        if (!device || device.deletedAt !== null) throw unauthorized("this device was removed");
        const devicePublicKey = fromHex(device.publicKey);
        const now = ctx.clock.now();
        const keys = [];
        const lockHolders = new Set<string>();
        const keyedLocks: { lockId: string; lockHolderId: string }[] = [];
        for (const key of await tx.keys.usableForUser(device.userId, now)) {
          // Starting beyond the token lifetime cap: nothing valid to mint yet; a later prefetch brings it.
          if (!tokenWindow(ctx, key)) continue;
          const lock = await tx.locks.get(key.lockId);
          // No token for a lock its key's holder has not claimed (a key from before claims were enforced): that lock
          // trusts no issuer of this holder, and the phone must not carry anything for it (docs/trust.md "Cloud").
          if (!lock || !(await claimedByHolder(tx, lock))) continue;
          const minted = await mintKeyToken(tx, ctx, key, devicePublicKey);
          lockHolders.add(key.lockHolderId);
          keyedLocks.push({ lockId: key.lockId, lockHolderId: key.lockHolderId });
          keys.push({
            keyId: key.id,
            lockId: key.lockId,
            lockName: lock.name,
            start: iso(key.startAt),
            end: isoOrNull(key.endAt),
            state: keyState(key, now),
            token: toBase64Url(minted.token),
            tokenExpires: iso(minted.expS * 1000),
            useKeyUrl: keyUseUrl(ctx, key),
          });
        }
        const issuers = (await tx.issuerKeys.listLive([...lockHolders])).map((k) => ({ kid: k.kid, x: k.publicKey }));
        // Phones are couriers too (docs/design.md section 7): the latest signed state of each claimed lock the keys
        // open, signed after the tokens above were minted, so it names the issuer key that signed them.
        const states = [];
        // Only a claim by the lock holder whose key this phone holds for that lock: never another tenant's document.
        const holdersByLock = new Map<string, Set<string>>();
        for (const k of keyedLocks) {
          const set = holdersByLock.get(k.lockId) ?? new Set<string>();
          set.add(k.lockHolderId);
          holdersByLock.set(k.lockId, set);
        }
        for (const claim of await tx.lockClaims.getMany([...holdersByLock.keys()])) {
          if (!holdersByLock.get(claim.lockId)?.has(claim.lockHolderId)) continue;
          const signed = await latestLockState(tx, ctx, claim);
          states.push({ lockId: claim.lockId, v: signed.v, state: toBase64Url(fromHex(signed.doc)) });
        }
        return {
          userId: device.userId,
          keys,
          issuers,
          states,
          prefetchKeysUrl: prefetchKeysUrl({}, ctx.settings.linkBase),
        };
      });
    },
  );

  app.delete(
    "/device",
    {
      config: { auth: "app" },
      schema: {
        tags: ["app API"],
        summary: "Forget this device (its access tokens stop working)",
        response: { 204: { type: "null", description: "forgotten" }, ...errors() },
      },
    },
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
