import {
  errors,
  FoundLocks,
  FoundLocksAnswer,
  Heartbeat,
  IdParam,
  Obj,
  StateReport,
} from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { reportConnectionState, reportFoundLocks } from "../../domain/bridge-reports.js";
import { recordHeartbeat } from "../../domain/bridges.js";
import { commit } from "../../domain/commit.js";
import { bridgeOf } from "../../http/auth.js";
import { route, type TypedApp } from "../../http/typed.js";

const VcParams = Obj({ vendorConnectionId: IdParam });

/** What a bridge tells the cloud: connection states, the locks it found, that it is alive. */
export function reportRoutes(app: TypedApp, ctx: CloudContext): void {
  app.put(
    "/vendor-connections/:vendorConnectionId/state",
    route("bridge", {
      operationId: "reportVendorConnectionState",
      tags: ["bridge API"],
      summary: "Report a vendor connection's state",
      params: VcParams,
      body: StateReport,
      response: { 204: { type: "null", description: "recorded" }, ...errors(400, 404) },
    }),
    async (request, reply) => {
      const bridge = bridgeOf(request);
      const { vendorConnectionId } = request.params;
      const { state, reason } = request.body;
      await commit(ctx, (tx) =>
        reportConnectionState(tx, ctx, bridge.bridgeId, vendorConnectionId, state, reason ?? null),
      );
      reply.code(204).send();
    },
  );

  app.put(
    "/vendor-connections/:vendorConnectionId/locks",
    route("bridge", {
      operationId: "reportVendorConnectionLocks",
      tags: ["bridge API"],
      summary: "Report the full list of locks found for a vendor connection",
      description:
        "New ids are created under the connection's lock holder; an id owned by another connection is `conflict`. " +
        "While the connection is `refreshing`, its locks missing from the list are offboarded (keys revoked).",
      params: VcParams,
      body: FoundLocks,
      response: { 200: FoundLocksAnswer, ...errors(400, 404) },
    }),
    async (request) => {
      const bridge = bridgeOf(request);
      const { vendorConnectionId } = request.params;
      const { locks } = request.body;
      const results = await commit(ctx, (tx) => reportFoundLocks(tx, ctx, bridge.bridgeId, vendorConnectionId, locks));
      return { locks: results };
    },
  );

  app.post(
    "/heartbeat",
    route("bridge", {
      operationId: "bridgeHeartbeat",
      tags: ["bridge API"],
      summary: "Bridge heartbeat: sets online and lastSeen",
      description:
        "A bridge unheard (no heartbeat, no presence report) for 90 s is shown offline, and so are its locks " +
        "(`lock.offline`); this brings them back to the presence it last reported (docs/webhooks.md, Presence).",
      body: Heartbeat,
      response: { 204: { type: "null", description: "recorded" }, ...errors(400) },
    }),
    async (request, reply) => {
      const bridge = bridgeOf(request);
      const { version, locksOnline } = request.body;
      await commit(ctx, (tx) => recordHeartbeat(tx, ctx, bridge.bridgeId, version, locksOnline ?? null));
      reply.code(204).send();
    },
  );
}
