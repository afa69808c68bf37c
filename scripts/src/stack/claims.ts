import { setupCodes } from "@latchkey/lock-sim";
import type { ClaimedLock } from "../client/index.js";
import type { IntegratorClient } from "../client/integrator-client.js";

/** A lock's setup code as printed on its label (the claim secret inside: never logged). */
export interface LockLabel {
  lockId: string;
  setupCode: string;
}

export interface LockClaim {
  claim: ClaimedLock;
  /** false: this lock holder had claimed it already (a later start), answered 200. */
  created: boolean;
}

/**
 * Reads the labels of the stack's locks from their flash before the fleet boots, as an operator would with
 * `latchkey-lock-sim setup-codes --data <dataDir>/locks` (lock-sim/README.md): a lock never seen on that flash is
 * manufactured now, and the fleet then boots exactly that identity. The flash must not be held by a running fleet.
 */
export function readSetupCodes(lockIds: readonly string[], locksDataDir: string): LockLabel[] {
  return setupCodes(lockIds, { dataDir: locksDataDir }).map((l) => ({ lockId: l.lockId, setupCode: l.setupCode }));
}

/**
 * Claims each lock for the lock holder through the Integrator API, the only way a setup code reaches the cloud
 * (docs/design.md section 7: no bridge ever holds one). A lock this holder already claimed answers 200, so every
 * start may run it. A code the cloud refuses (409 another holder's lock, 422) throws the client's ApiError.
 */
export async function claimLocks(
  client: IntegratorClient,
  lockHolderId: string,
  labels: readonly LockLabel[],
): Promise<LockClaim[]> {
  const out: LockClaim[] = [];
  for (const label of labels) out.push(await client.claimLock(lockHolderId, label.setupCode));
  return out;
}

/** One line for the terminal: how many were claimed now and how many were claimed already. */
export function describeClaims(claims: readonly LockClaim[]): string {
  const fresh = claims.filter((c) => c.created).length;
  const again = claims.length - fresh;
  const parts = [fresh > 0 ? `${fresh} claimed now` : "", again > 0 ? `${again} claimed already` : ""].filter(Boolean);
  return `${claims.length} locks claimed with their setup codes through the Integrator API (${parts.join(", ")})`;
}
