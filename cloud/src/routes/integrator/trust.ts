import { fromHex, toBase64Url } from "@latchkey/protocol";
import { Authority, ClaimedLock, ClaimLock, errors, iso } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { authorityFor, locksBehind, rotateAuthority } from "../../domain/authority.js";
import { claimLock, claimView } from "../../domain/claims.js";
import { lockHolderScope } from "../../http/lock-holder.js";
import { route, type TypedApp } from "../../http/typed.js";
import type { AuthorityRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";
import { LhParams } from "./lock-holders.js";

async function authorityView(tx: Tx, a: AuthorityRecord) {
  return {
    publicKey: a.publicKey,
    created: iso(a.createdAt),
    handOver: a.handOver === null ? null : toBase64Url(fromHex(a.handOver)),
    locksBehind: (await locksBehind(tx, a.lockHolderId, a.publicKey)).length,
  };
}

/** Claims with a setup code and the lock holder's authority (docs/design.md section 7, docs/trust.md "Cloud"). */
export function trustRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  app.post(
    "/lock-holders/:lockHolderId/locks/claims",
    route("integrator", {
      operationId: "claimLock",
      tags: ["locks"],
      summary: "Claim a lock with its setup code",
      description:
        "The cloud has never seen the lock's claim secret, so a claim is `pending` until the lock proves it: the " +
        "lock applies a state signed for this claim (its pin tag made with the code's secret) and reports so; then " +
        "`confirmed`, and other lock holders' claims of the id are dropped (their keys on it revoked). Several " +
        "lock holders may hold a pending claim of one id. 201 for a new claim, 200 when this lock holder claims it " +
        "again (a factory reset made new keys: pending again unless the code is the one the lock proved). 422 " +
        "`bad_checksum` (a typo) or `bad_setup_code` (not a latchkey code); 409 `already_claimed` only when another " +
        "lock holder's claim stands in the way: confirmed by the lock, or held by the lock holder whose bridge " +
        "serves the lock (the answer names nobody).",
      params: LhParams,
      body: ClaimLock,
      response: { 200: ClaimedLock, 201: ClaimedLock, ...errors(400, 404, 409, 422) },
    }),
    async (request, reply) => {
      const { setupCode, name } = request.body;
      const outcome = await lockHolder.commit(request, (tx, lh) => claimLock(tx, ctx, lh, setupCode, name));
      reply.code(outcome.created ? 201 : 200);
      return claimView(outcome.claim);
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/authority",
    route("integrator", {
      operationId: "getAuthority",
      tags: ["lock holders"],
      summary: "The lock holder's authority: the key its locks pin (created at first use)",
      params: LhParams,
      response: { 200: Authority, ...errors(404) },
    }),
    async (request) => {
      return lockHolder.commit(request, async (tx, lh) => authorityView(tx, await authorityFor(tx, ctx, lh.id)));
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/authority/rotate",
    route("integrator", {
      operationId: "rotateAuthority",
      tags: ["lock holders"],
      summary: "Rotate the authority by a signed hand-over",
      description:
        "Creates a new authority and a hand-over signed by the old one, carried in each lock's next states until " +
        "the lock reports the new key. 409 `rotation_pending` while a lock has not yet reported the current one.",
      params: LhParams,
      response: { 201: Authority, ...errors(404, 409) },
    }),
    async (request, reply) => {
      const view = await lockHolder.commit(request, async (tx, lh) =>
        authorityView(tx, await rotateAuthority(tx, ctx, lh.id)),
      );
      reply.code(201);
      return view;
    },
  );
}
