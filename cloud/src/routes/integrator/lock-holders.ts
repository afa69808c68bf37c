import {
  CreateLockHolder,
  errors,
  IdParam,
  Integrator,
  IssuerKey,
  IssuerKeyList,
  LockHolder,
  LockHolderList,
  Obj,
  PageQuery,
  PatchLockHolder,
} from "@latchkey/protocol/contracts";
import { Type } from "@sinclair/typebox";
import type { CloudContext } from "../../context.js";
import { read } from "../../domain/commit.js";
import { notFound } from "../../domain/errors.js";
import { retireExpiredIssuerKeys, retireIssuerKeyNow, rotateIssuerKey } from "../../domain/issuers.js";
import { checkCountry, createLockHolder } from "../../domain/lock-holders.js";
import { pageAnswer, pageRequest } from "../../domain/pages.js";
import { integratorView, issuerKeyView, lockHolderView } from "../../domain/views.js";
import { integratorOf } from "../../http/auth.js";
import { lockHolderScope } from "../../http/lock-holder.js";
import { route, type TypedApp } from "../../http/typed.js";

export const LhParams = Obj({ lockHolderId: IdParam });
const IssuerKeyParams = Obj({
  lockHolderId: IdParam,
  kid: Type.String({ pattern: "^[0-9a-f]{2,128}$", description: "the key's kid, lowercase hex" }),
});
const PageQuerySchema = Obj(PageQuery);

const COUNTRY_DESCRIPTION =
  "`countryIso` reads key holders' national numbers: an ISO 3166-1 alpha-2 code the phone number metadata knows " +
  "(422 `invalid_country` otherwise, e.g. XX).";

/** Integrator, lock holders and their issuer keys. */
export function lockHolderRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  app.get(
    "/integrator/:integratorId",
    route("integrator", {
      operationId: "getIntegrator",
      tags: ["integrator"],
      summary: "Get your integrator",
      params: Obj({ integratorId: IdParam }),
      response: { 200: Integrator, ...errors(404) },
    }),
    async (request) => {
      const p = integratorOf(request);
      const { integratorId } = request.params;
      if (integratorId !== p.integratorId) throw notFound("integrator");
      const integrator = await read(ctx, (tx) => tx.integrators.get(integratorId));
      if (!integrator) throw notFound("integrator");
      return integratorView(integrator);
    },
  );

  app.get(
    "/lock-holders",
    route("integrator", {
      operationId: "listLockHolders",
      tags: ["lock holders"],
      summary: "List lock holders",
      querystring: PageQuerySchema,
      response: { 200: LockHolderList, ...errors(400) },
    }),
    async (request) => {
      const p = integratorOf(request);
      const q = request.query;
      const page = await read(ctx, async (tx) => {
        if (p.lockHolderId === null) return tx.lockHolders.list(p.integratorId, pageRequest(q));
        // A lock-holder-scoped token sees its one lock holder.
        const own = await tx.lockHolders.get(p.lockHolderId);
        const items = own && (q.startAfterId === undefined || own.id > q.startAfterId) ? [own] : [];
        return { items, startAfterId: null };
      });
      return pageAnswer("lockHolders", page, lockHolderView);
    },
  );

  app.post(
    "/lock-holders",
    route("integrator.admin", {
      operationId: "createLockHolder",
      tags: ["lock holders"],
      summary: "Create a lock holder (and its first issuer key)",
      description: COUNTRY_DESCRIPTION,
      body: CreateLockHolder,
      response: { 201: LockHolder, ...errors(400, 422) },
    }),
    async (request, reply) => {
      const lh = await createLockHolder(ctx, integratorOf(request).integratorId, request.body);
      reply.code(201);
      return lockHolderView(lh);
    },
  );

  app.get(
    "/lock-holders/:lockHolderId",
    route("integrator", {
      operationId: "getLockHolder",
      tags: ["lock holders"],
      summary: "Get a lock holder",
      params: LhParams,
      response: { 200: LockHolder, ...errors(404) },
    }),
    async (request) => {
      return lockHolderView(await lockHolder.get(request));
    },
  );

  app.patch(
    "/lock-holders/:lockHolderId",
    route("integrator", {
      operationId: "updateLockHolder",
      tags: ["lock holders"],
      summary: "Update a lock holder",
      params: LhParams,
      description: COUNTRY_DESCRIPTION,
      body: PatchLockHolder,
      response: { 200: LockHolder, ...errors(400, 404, 422) },
    }),
    async (request) => {
      const body = request.body;
      checkCountry(body.countryIso);
      const updated = await lockHolder.commit(request, async (tx, lh) => {
        await tx.lockHolders.update(lh.id, body);
        return (await tx.lockHolders.get(lh.id))!;
      });
      return lockHolderView(updated);
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/issuer-keys",
    route("integrator", {
      operationId: "listIssuerKeys",
      tags: ["issuer keys"],
      summary: "List the lock holder's token issuer keys (public parts)",
      params: LhParams,
      response: { 200: IssuerKeyList, ...errors(404) },
    }),
    async (request) => {
      const keys = await lockHolder.commit(request, async (tx, lh) => {
        await retireExpiredIssuerKeys(tx, ctx);
        return tx.issuerKeys.list(lh.id);
      });
      return { issuerKeys: keys.map(issuerKeyView) };
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/issuer-keys/rotate",
    route("integrator", {
      operationId: "rotateIssuerKey",
      tags: ["issuer keys"],
      summary: "Rotate the issuer key",
      description:
        "A new key signs from now on; the old one stays trusted by locks until every token it signed has expired, then it is retired.",
      params: LhParams,
      response: { 201: IssuerKey, ...errors(404) },
    }),
    async (request, reply) => {
      const key = await lockHolder.commit(request, async (tx, lh) => {
        const fresh = await rotateIssuerKey(tx, ctx, lh.id);
        await retireExpiredIssuerKeys(tx, ctx);
        return fresh;
      });
      reply.code(201);
      return issuerKeyView(key);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/issuer-keys/:kid/retire",
    route("integrator", {
      operationId: "retireIssuerKey",
      tags: ["issuer keys"],
      summary: "Retire an issuer key now (e.g. after a leak)",
      description:
        "Locks stop trusting the key at their next sync: every token it signed is refused from then on. If the key " +
        "still signs, a new key takes over first. Phones get tokens under the current key at their next prefetch. " +
        "Retiring a retired key answers it unchanged. See docs/design.md section 4.",
      params: IssuerKeyParams,
      response: { 200: IssuerKey, ...errors(404) },
    }),
    async (request) => {
      const { lockHolderId, kid } = request.params;
      const key = await lockHolder.commit(request, (tx, lh) => retireIssuerKeyNow(tx, ctx, lh.id, kid));
      if (!key) throw notFound(`issuer key ${kid} of lock holder ${lockHolderId}`);
      return issuerKeyView(key);
    },
  );
}
