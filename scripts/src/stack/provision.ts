import { ApiError } from "../client/index.js";
import type { IntegratorClient } from "../client/integrator-client.js";
import type { StackState } from "./state.js";

export class ProvisionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProvisionError";
  }
}

export interface Provisioned {
  lockHolderId: string;
  bridgeId: string;
  bridgeSecret: string;
  vendorConnectionId: string;
}

/**
 * What the stack needs in the cloud, through the Integrator API as any integrator would do it: a lock holder, a
 * registered bridge, and a `sim` vendor connection served by that bridge. Each step is saved at once; on a later
 * start the saved ids are checked and reused.
 */
export async function provision(
  client: IntegratorClient,
  state: StackState,
  save: () => void,
  onStep: (text: string) => void = () => {},
): Promise<Provisioned> {
  const missing = (what: string, id: string) =>
    new ProvisionError(
      `${what} ${id} from the data directory is not in the cloud's database (was the cloud's data removed?): ` +
        "move the data directory away to start afresh",
    );

  if (state.lockHolderId === undefined) {
    const lh = await client.createLockHolder({ name: "Demo site", countryIso: "NO" });
    state.lockHolderId = lh.id;
    save();
    onStep(`created lock holder ${lh.id}`);
  } else {
    await client.getLockHolder(state.lockHolderId).catch((e: unknown) => {
      throw e instanceof ApiError && e.status === 404 ? missing("lock holder", state.lockHolderId!) : e;
    });
  }
  const lockHolderId = state.lockHolderId;

  if (state.bridge === undefined) {
    const bridge = await client.registerBridge(lockHolderId, "stack gateway");
    state.bridge = { bridgeId: bridge.bridgeId, secret: bridge.secret };
    save();
    onStep(`registered bridge ${bridge.bridgeId}`);
  } else {
    const bridges = await client.listBridges(lockHolderId);
    if (!bridges.some((b) => b.id === state.bridge!.bridgeId)) throw missing("bridge", state.bridge.bridgeId);
  }
  const { bridgeId, secret } = state.bridge;

  if (state.vendorConnectionId === undefined) {
    const input = {
      vendor: "sim" as const,
      username: state.vendor.username,
      password: state.vendor.password,
      bridgeId,
    };
    try {
      const vc = await client.createVendorConnection(lockHolderId, input);
      state.vendorConnectionId = vc.id;
    } catch (e) {
      // Created by a start that stopped before saving: the cloud refuses a second one with the same credentials.
      if (!(e instanceof ApiError && e.status === 409)) throw e;
      const existing = (await client.listVendorConnections(lockHolderId)).find(
        (vc) => vc.username === state.vendor.username && vc.bridgeId === bridgeId,
      );
      if (!existing) throw e;
      state.vendorConnectionId = existing.id;
    }
    save();
    onStep(`created vendor connection ${state.vendorConnectionId} (sim, served by ${bridgeId})`);
  } else {
    await client.getVendorConnection(lockHolderId, state.vendorConnectionId).catch((e: unknown) => {
      throw e instanceof ApiError && e.status === 404 ? missing("vendor connection", state.vendorConnectionId!) : e;
    });
  }
  return { lockHolderId, bridgeId, bridgeSecret: secret, vendorConnectionId: state.vendorConnectionId };
}
