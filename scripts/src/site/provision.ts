import type { LockHolderInput } from "../client/index.js";
import type { IntegratorClient } from "../client/integrator-client.js";

/** The vendor account a bridge serves a connection with (docs/design.md section 7). */
export interface VendorAccount {
  vendor: "sim" | "ble";
  username: string;
  password: string;
}

/** What a site is in the cloud: a lock holder, its registered bridge and the vendor connection that bridge serves. */
export interface SiteRegistration {
  lockHolderId: string;
  bridgeId: string;
  bridgeSecret: string;
  vendorConnectionId: string;
}

export interface RegisterSiteOptions {
  lockHolder: LockHolderInput;
  bridgeName?: string;
  vendor: VendorAccount;
  /** The password the connection is created with, when a test wants it to differ from the bridge's (a wrong one). */
  connectionPassword?: string;
}

/** A site's lock holder, bridge and vendor connection, through the Integrator API as any integrator would. */
export async function registerSite(client: IntegratorClient, options: RegisterSiteOptions): Promise<SiteRegistration> {
  const lh = await client.createLockHolder(options.lockHolder);
  const bridge = await client.registerBridge(lh.id, options.bridgeName);
  const vc = await client.createVendorConnection(lh.id, {
    vendor: options.vendor.vendor,
    username: options.vendor.username,
    password: options.connectionPassword ?? options.vendor.password,
    bridgeId: bridge.bridgeId,
  });
  return { lockHolderId: lh.id, bridgeId: bridge.bridgeId, bridgeSecret: bridge.secret, vendorConnectionId: vc.id };
}
