import { encodeCbor } from "../cbor/encode.js";
import { ProtocolError } from "../errors.js";
import { Fields } from "./fields.js";

/** An issuer key the lock must trust: `kid` and the raw 32-byte Ed25519 public key `x`. */
export interface SyncIssuer {
  kid: Uint8Array;
  x: Uint8Array;
}

/** A key the lock should know about (for its own key list and audit); tokens stay the authority to open. */
export interface SyncGrant {
  cti: Uint8Array;
  sub: string;
  nbf: number;
  exp: number;
}

/**
 * A lock's desired state (docs/design.md section 3): a lock applies a sync only when `v` is newer than the version it has,
 * then reports `v` (a `sync_applied` event and its telemetry). `time` is trusted time from the bridge (unix seconds).
 */
export interface SyncMessage {
  v: number;
  issuers: SyncIssuer[];
  grants?: SyncGrant[];
  revoked: Uint8Array[];
  time: number;
}

/**
 * How far past its current version a lock lets one sync take it (docs/mqtt.md, "Sync versions"). The bridge raises a
 * lock's version by one per change, so no honest sync jumps anywhere near this; a larger jump is refused with
 * `implausible_version`, so no single message can park a lock at the top of the range, where no later version exists
 * (a lock at 2^53 − 1 would refuse every sync after it).
 */
export const MAX_SYNC_V_STEP = 2 ** 32;

export const IMPLAUSIBLE_VERSION = "implausible_version";

/** Whether `v` is further past `current` than one sync may take a lock (docs/mqtt.md). */
export function isImplausibleSyncVersion(current: number, v: number): boolean {
  return v - current > MAX_SYNC_V_STEP;
}

export const MAX_SYNC_BYTES = 512 * 1024;
export const MAX_SYNC_ISSUERS = 16;
export const MAX_SYNC_ENTRIES = 16_384;

export function encodeSync(sync: SyncMessage): Uint8Array {
  return encodeCbor({
    v: sync.v,
    issuers: sync.issuers.map((i) => ({ kid: i.kid, x: i.x })),
    grants: sync.grants?.map((g) => ({ cti: g.cti, sub: g.sub, nbf: g.nbf, exp: g.exp })),
    revoked: sync.revoked,
    time: sync.time,
  });
}

export function decodeSync(bytes: Uint8Array): SyncMessage {
  if (bytes.length > MAX_SYNC_BYTES)
    throw new ProtocolError("too_large", `sync is ${bytes.length} bytes, over ${MAX_SYNC_BYTES}`);
  const f = Fields.decode(bytes, "sync", { maxBytes: MAX_SYNC_BYTES, maxItems: MAX_SYNC_ENTRIES });
  const issuers = f.array("issuers", MAX_SYNC_ISSUERS).map((item, i) => {
    const g = f.nested(`issuers[${i}]`, item);
    return { kid: g.bytes("kid", undefined, 64), x: g.bytes("x", 32) };
  });
  const revoked = f.array("revoked", MAX_SYNC_ENTRIES).map((item, i): Uint8Array => {
    if (item instanceof Uint8Array && item.length === 16) return item;
    return f.fail(`revoked[${i}]`, "a 16-byte key id");
  });
  const sync: SyncMessage = { v: f.int("v", 1), issuers, revoked, time: f.int("time") };
  if (f.has("grants")) {
    sync.grants = f.array("grants", MAX_SYNC_ENTRIES).map((item, i) => {
      const g = f.nested(`grants[${i}]`, item);
      return { cti: g.bytes("cti", 16), sub: g.text("sub", 128), nbf: g.int("nbf"), exp: g.int("exp") };
    });
  }
  return sync;
}
