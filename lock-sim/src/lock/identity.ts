import { dirname } from "node:path";
import {
  CLAIM_SECRET_BYTES,
  defaultEd25519,
  type Ed25519Backend,
  encodeSetupCode,
  fingerprint,
  type LockPublicKeys,
  x25519PublicKey,
} from "@latchkey/protocol";
import { FlashError } from "../flash/flash-file.js";
import type { IdentityFlash, IdentityRow } from "../flash/identity-flash.js";
import type { RandomSource } from "../random.js";

/**
 * A lock's identity (docs/design.md section 7 "Identity and claim", docs/trust.md "Lock"): the lock id and a 128-bit
 * claim secret from manufacture, and an Ed25519 identity key and an X25519 key made at first boot, all in flash.
 *
 * In the simulator "manufacture" is the first time a lock id is seen on a flash (its first boot, or
 * `latchkey-lock-sim setup-codes`, which prints the label before the lock is ever started): the claim secret is drawn
 * from the injected randomness then and kept in the factory part of flash. Reproducing a fleet's setup codes is
 * therefore a matter of keeping its data directory, not of re-deriving them from a seed: a secret that can be
 * re-derived from a seed is only as secret as the seed.
 */

/**
 * The flash format this lock-sim writes and accepts. 2 added the identity; 3 is the signed path only (docs/trust.md
 * "Lock"): a partition of format 2 was run by a lock-sim that also applied the unsigned `sync`, so its events (a
 * `sync_applied` no cloud decodes) and its clock were never the authority's word. Older partitions are refused, never
 * upgraded in place.
 */
export const FLASH_FORMAT = 3;

/** A lock partition this lock-sim cannot boot: written before flash format 3, or by a newer lock-sim. */
export class FlashFormatError extends FlashError {
  constructor(
    readonly lockId: string,
    readonly found: number | undefined,
    path: string,
  ) {
    super(
      found !== undefined && found > FLASH_FORMAT
        ? `lock ${lockId}: its flash at ${path} is format ${found}, written by a newer lock-sim (this one reads ${FLASH_FORMAT})`
        : `lock ${lockId}: its flash at ${path} was written before flash format ${FLASH_FORMAT} (` +
            (found === undefined
              ? "it has no lock identity, so it cannot take part in signed trust"
              : `format ${found}, by a lock-sim that also applied the unsigned sync`) +
            `); factory reset it: latchkey-lock-sim factory-reset --data ${dirname(path)} --lock ${lockId}`,
    );
    this.name = "FlashFormatError";
  }
}

export interface LockIdentityKeys extends LockPublicKeys {
  lockId: string;
  claimSecret: Uint8Array;
  identitySecret: Uint8Array;
  agreementSecret: Uint8Array;
}

function keysFrom(lockId: string, row: IdentityRow, backend: Ed25519Backend): LockIdentityKeys {
  return {
    lockId,
    claimSecret: row.claimSecret,
    identitySecret: row.identitySecret,
    identityKey: backend.getPublicKey(row.identitySecret),
    agreementSecret: row.agreementSecret,
    agreementKey: x25519PublicKey(row.agreementSecret),
  };
}

/** Fresh first-boot keys from the lock's randomness. */
function newKeys(random: RandomSource): Pick<IdentityRow, "identitySecret" | "agreementSecret"> {
  return { identitySecret: random(32), agreementSecret: random(32) };
}

export interface BootIdentityOptions {
  /** Whether the lock's record was written by this boot (LockFlash.created): with no identity, a new lock. */
  firstBoot: boolean;
  random: RandomSource;
  path: string;
  backend?: Ed25519Backend;
}

/**
 * The identity at boot: read from flash, or made now for a lock never booted (manufacture + first boot). A partition
 * the lock booted before with no identity, or of another format, is refused (FlashFormatError): what it holds was
 * never signed, and the fix is a factory reset, not a silent upgrade (issue 13: no legacy path).
 */
export function bootIdentity(flash: IdentityFlash, options: BootIdentityOptions): LockIdentityKeys {
  const backend = options.backend ?? defaultEd25519;
  const row = flash.identity();
  if (row === undefined) {
    if (!options.firstBoot) throw new FlashFormatError(flash.lockId, undefined, options.path);
    return keysFrom(flash.lockId, manufacture(flash, options.random), backend);
  }
  if (row.format !== FLASH_FORMAT) throw new FlashFormatError(flash.lockId, row.format, options.path);
  return keysFrom(flash.lockId, row, backend);
}

/** Draws the claim secret and the first-boot keys and writes them. */
export function manufacture(flash: IdentityFlash, random: RandomSource): IdentityRow {
  const row: IdentityRow = { format: FLASH_FORMAT, claimSecret: random(CLAIM_SECRET_BYTES), ...newKeys(random) };
  flash.writeIdentity(row);
  return row;
}

/**
 * Factory reset of a lock that is not running: new keys, pin and applied state and counters and events gone; the
 * printed claim secret stays. A partition from before flash format 2 had no claim secret: it gets its first one.
 * The partition's format becomes FLASH_FORMAT: a reset is how an older partition is brought onto the signed path.
 */
export function factoryReset(
  flash: IdentityFlash,
  random: RandomSource,
  backend: Ed25519Backend = defaultEd25519,
): LockIdentityKeys {
  const old = flash.identity();
  const row: IdentityRow = {
    format: FLASH_FORMAT,
    claimSecret: old?.claimSecret ?? random(CLAIM_SECRET_BYTES),
    ...newKeys(random),
  };
  flash.factoryReset(row);
  return keysFrom(flash.lockId, row, backend);
}

/** The setup code printed on the lock (protocol encodeSetupCode): lock id, claim secret, fingerprint of both keys. */
export function setupCodeOf(identity: LockIdentityKeys): string {
  return encodeSetupCode({
    lockId: identity.lockId,
    claimSecret: identity.claimSecret,
    fingerprint: fingerprint({ identityKey: identity.identityKey, agreementKey: identity.agreementKey }),
  });
}
