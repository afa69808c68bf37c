import type { Sql } from "../sql.js";
import type { Tx } from "../store.js";
import {
  AccessTokens,
  Bridges,
  Devices,
  Integrators,
  IssuerKeys,
  LockHolders,
  Meta,
  Nonces,
  OtpThrottle,
  Verifications,
} from "./accounts.js";
import { RemoteActions } from "./actions.js";
import { Deliveries, Events, Jobs, Telemetry, Webhooks } from "./activity.js";
import { Changes, Keys, Locks, VendorConnections } from "./site.js";
import { Authorities, LockClaims, LockReports } from "./trust.js";

/** Every repository over one connection's SQL: what a transaction's `work` is given. */
export function repositories(sql: Sql): Tx {
  return {
    integrators: new Integrators(sql),
    tokens: new AccessTokens(sql),
    lockHolders: new LockHolders(sql),
    issuerKeys: new IssuerKeys(sql),
    bridges: new Bridges(sql),
    vendorConnections: new VendorConnections(sql),
    locks: new Locks(sql),
    keys: new Keys(sql),
    events: new Events(sql),
    telemetry: new Telemetry(sql),
    webhooks: new Webhooks(sql),
    deliveries: new Deliveries(sql),
    jobs: new Jobs(sql),
    changes: new Changes(sql),
    verifications: new Verifications(sql),
    devices: new Devices(sql),
    nonces: new Nonces(sql),
    meta: new Meta(sql),
    otpThrottle: new OtpThrottle(sql),
    authorities: new Authorities(sql),
    lockClaims: new LockClaims(sql),
    lockReports: new LockReports(sql),
    remoteActions: new RemoteActions(sql),
  };
}
