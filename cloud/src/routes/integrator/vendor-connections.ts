import {
  CreateVendorConnection,
  errors,
  IdParam,
  Obj,
  PageQuery,
  UpdatePassword,
  VendorConnectionAnswer,
  VendorConnectionList,
} from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { pageAnswer, pageRequest } from "../../domain/pages.js";
import {
  createVendorConnection,
  deleteVendorConnection,
  readableConnectionOf,
  refreshVendorConnection,
  updateVendorPassword,
} from "../../domain/vendor-connections.js";
import { vendorConnectionView } from "../../domain/views.js";
import { integratorOf } from "../../http/auth.js";
import { lockHolderScope } from "../../http/lock-holder.js";
import { route, type TypedApp } from "../../http/typed.js";
import type { VendorConnectionRecord } from "../../store/records.js";
import { LhParams } from "./lock-holders.js";

const VcParams = Obj({ lockHolderId: IdParam, vendorConnectionId: IdParam });
const PageQuerySchema = Obj(PageQuery);

const answer = (vc: VendorConnectionRecord) => ({ vendorConnection: vendorConnectionView(vc) });

export function vendorConnectionRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  app.get(
    "/lock-holders/:lockHolderId/vendor-connections",
    route("integrator", {
      operationId: "listVendorConnections",
      tags: ["vendor connections"],
      summary: "List vendor connections",
      params: LhParams,
      querystring: PageQuerySchema,
      response: { 200: VendorConnectionList, ...errors(400, 404) },
    }),
    async (request) => {
      const q = request.query;
      const page = await lockHolder.read(request, (tx, lh) => tx.vendorConnections.list(lh.id, pageRequest(q)));
      return pageAnswer("vendorConnections", page, vendorConnectionView);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/vendor-connections",
    route("integrator", {
      operationId: "createVendorConnection",
      tags: ["vendor connections"],
      summary: "Create a vendor connection",
      description:
        "`virtual` creates up to 100 cloud-hosted test locks at once. `sim` and `ble` are served by the named bridge, " +
        "which checks the credentials; poll the connection while it is `connecting`. Credentials already used by a live " +
        "connection → 409, the existing one untouched.",
      params: LhParams,
      body: CreateVendorConnection,
      response: { 201: VendorConnectionAnswer, ...errors(400, 404, 409) },
    }),
    async (request, reply) => {
      const p = integratorOf(request);
      const lh = await lockHolder.get(request);
      const vc = await createVendorConnection(ctx, p.integratorId, lh, request.body);
      reply.code(201);
      return answer(vc);
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/vendor-connections/:vendorConnectionId",
    route("integrator", {
      operationId: "getVendorConnection",
      tags: ["vendor connections"],
      summary: "Get a vendor connection (poll it while connecting or refreshing)",
      description:
        "A deleted connection still reads, as `disconnected` (it is no longer listed, and cannot be refreshed or " +
        "given a new password: 404).",
      params: VcParams,
      response: { 200: VendorConnectionAnswer, ...errors(404) },
    }),
    async (request) => {
      const { vendorConnectionId } = request.params;
      const vc = await lockHolder.read(request, (tx, lh) => readableConnectionOf(tx, lh, vendorConnectionId));
      return answer(vc);
    },
  );

  app.put(
    "/lock-holders/:lockHolderId/vendor-connections/:vendorConnectionId/refresh",
    route("integrator", {
      operationId: "refreshVendorConnection",
      tags: ["vendor connections"],
      summary: "Refresh: the bridge re-reads the vendor's locks; locks gone at the vendor are offboarded",
      params: VcParams,
      response: { 200: VendorConnectionAnswer, ...errors(404) },
    }),
    async (request) => {
      const { vendorConnectionId } = request.params;
      const vc = await lockHolder.commit(request, (tx, lh) => refreshVendorConnection(tx, ctx, lh, vendorConnectionId));
      return answer(vc);
    },
  );

  app.put(
    "/lock-holders/:lockHolderId/vendor-connections/:vendorConnectionId/update-password",
    route("integrator", {
      operationId: "updateVendorPassword",
      tags: ["vendor connections"],
      summary: "Replace the vendor password; the bridge checks it again",
      params: VcParams,
      body: UpdatePassword,
      response: { 200: VendorConnectionAnswer, ...errors(400, 404, 409) },
    }),
    async (request) => {
      const p = integratorOf(request);
      const { vendorConnectionId } = request.params;
      const { password } = request.body;
      const lh = await lockHolder.get(request);
      const vc = await updateVendorPassword(ctx, p.integratorId, lh, vendorConnectionId, password);
      return answer(vc);
    },
  );

  app.delete(
    "/lock-holders/:lockHolderId/vendor-connections/:vendorConnectionId",
    route("integrator", {
      operationId: "deleteVendorConnection",
      tags: ["vendor connections"],
      summary: "Delete a vendor connection: its locks are offboarded and their keys revoked",
      description:
        "Answers the connection as it now reads, `disconnected`; GET still reads it so. Deleting it again is a 404.",
      params: VcParams,
      response: { 200: VendorConnectionAnswer, ...errors(404) },
    }),
    async (request) => {
      const { vendorConnectionId } = request.params;
      const vc = await lockHolder.commit(request, (tx, lh) => deleteVendorConnection(tx, ctx, lh, vendorConnectionId));
      return answer(vc);
    },
  );
}
