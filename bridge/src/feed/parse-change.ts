import { isValidLockId } from "@latchkey/protocol";
import type { Change } from "../cloud/types.js";

/**
 * Checks one change-feed entry against docs/bridge-api.md. Answers the typed change, `unknown` for a kind this bridge
 * does not know (a newer cloud; skipped), or an error message for a malformed entry.
 */
export function parseChange(raw: unknown): { change: Change } | { unknown: string } | { error: string } {
  if (typeof raw !== "object" || raw === null) return { error: "not an object" };
  const c = raw as Record<string, unknown>;
  const seq = c.seq;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq)) return { error: "seq is not an integer" };
  const text = (v: unknown, max = 256) => typeof v === "string" && v.length > 0 && v.length <= max;
  const bool = (v: unknown) => typeof v === "boolean";
  switch (c.kind) {
    case "vendor_connection": {
      const vc = c.vendorConnection as Record<string, unknown> | undefined;
      const check = vc?.credentialCheck as Record<string, unknown> | undefined;
      if (
        !vc ||
        !text(vc.id, 128) ||
        !text(vc.lockHolderId, 128) ||
        !text(vc.vendor, 64) ||
        typeof vc.username !== "string" ||
        !check ||
        typeof check.salt !== "string" ||
        typeof check.digest !== "string" ||
        !["connecting", "refreshing", "connected", "error", "disconnected"].includes(vc.state as string) ||
        !bool(vc.deleted)
      )
        return { error: `vendor_connection change ${seq} is malformed` };
      return { change: raw as Change };
    }
    // The bridge keeps nothing of these (the cloud signs keys and issuer keys into each lock's state): whatever else
    // they carry, they mean that states changed, and a shape the bridge does not need must not hold that back.
    case "issuer":
    case "key":
      return { change: raw as Change };
    case "lock":
      if (
        !isValidLockId(c.lockId) ||
        !text(c.vendorConnectionId, 128) ||
        !text(c.lockHolderId, 128) ||
        !bool(c.removed) ||
        (c.claimed !== undefined && !bool(c.claimed))
      )
        return { error: `lock change ${seq} is malformed` };
      return { change: raw as Change };
    case "action":
      if (
        !text(c.actionId, 128) ||
        !isValidLockId(c.lockId) ||
        (c.action !== "unlock" && c.action !== "lock") ||
        typeof c.expiresAt !== "string" ||
        !Number.isFinite(Date.parse(c.expiresAt))
      )
        return { error: `action change ${seq} is malformed` };
      return { change: raw as Change };
    default:
      return { unknown: String(c.kind) };
  }
}
