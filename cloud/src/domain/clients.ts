import type { CloudContext } from "../context.js";
import { newSecret } from "../security/secrets.js";
import type { ClientRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import type { Principal } from "./access.js";
import { notFound } from "./errors.js";
import { type SecretHolder, storedIn } from "./secret-rotation.js";

/** An integrator's own OAuth2 client secret (shown once, stored hashed). Made outside the transaction. */
export const newClientSecret = (ctx: CloudContext): string => newSecret(ctx.random, "lkcs_");

/** The caller's own client; anyone else's (or none) is a 404, as for every object (access.ts). */
export async function clientOf(
  tx: Tx,
  principal: Extract<Principal, { kind: "integrator" }>,
  integratorId: string,
  clientId: string,
): Promise<ClientRecord> {
  if (integratorId !== principal.integratorId) throw notFound("integrator");
  const client = await tx.integrators.getClient(clientId);
  if (!client || client.integratorId !== principal.integratorId) throw notFound("client");
  return client;
}

/** Where a client keeps its secrets, for secret-rotation.ts. */
export const clientSecrets = (tx: Tx, client: ClientRecord): SecretHolder =>
  storedIn(client, (next) => tx.integrators.setClientSecrets(client.clientId, next));
