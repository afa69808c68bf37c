import { toBase64Url } from "@latchkey/protocol";
import type { ReportUpload } from "@latchkey/protocol/contracts";
import type { LockKeys } from "../locks/registry.js";
import type { StoredItem } from "../outbox/outbox.js";

type ReportItem = Extract<StoredItem, { kind: "event" | "telemetry" }>;
type PresenceItem = Extract<StoredItem, { kind: "presence" }>;

export const isReportItem = (item: StoredItem): item is ReportItem => item.kind !== "presence";
export const isPresenceItem = (item: StoredItem): item is PresenceItem => item.kind === "presence";

/**
 * `POST /bridge/v1/reports` body (docs/bridge-api.md "Reports from the lock"): each report's stored bytes as base64url,
 * untouched, with the lock's public keys when the bridge holds them (the cloud pins them at a lock's first report and
 * then requires the same ones; sending them every time costs ~90 bytes an item and needs no bookkeeping).
 */
export function reportsBody(items: readonly ReportItem[], keysOf: (lockId: string) => LockKeys | null): string {
  const parts = items.map((item) => {
    const keys = keysOf(item.lockId);
    const entry: ReportUpload["items"][number] = {
      lockId: item.lockId,
      report: toBase64Url(item.report),
      ...(keys ? { keys: { identity: toBase64Url(keys.identity), x25519: toBase64Url(keys.x25519) } } : {}),
    };
    return JSON.stringify(entry);
  });
  return `{"items":[${parts.join(",")}]}`;
}

/** `POST /bridge/v1/ingest` body: presence only (the bridge's own word), assembled from the stored JSON. */
export function presenceBody(items: readonly PresenceItem[]): string {
  return `{"presence":[${items.map((i) => i.body).join(",")}]}`;
}
