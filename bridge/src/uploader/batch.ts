import { toBase64Url } from "@latchkey/protocol";
import type { ReportUpload } from "@latchkey/protocol/contracts";
import type { LockKeys } from "../locks/registry.js";
import type { StoredItem } from "../outbox/outbox.js";

type ReportItem = Extract<StoredItem, { kind: "event" | "telemetry" }>;
type PresenceItem = Extract<StoredItem, { kind: "presence" }>;

export const isReportItem = (item: StoredItem): item is ReportItem => item.kind !== "presence";
export const isPresenceItem = (item: StoredItem): item is PresenceItem => item.kind === "presence";

/**
 * A lock's keys as they go into an item (`,"keys":{...}`), encoded once per keys object: the registry replaces a lock's
 * `LockKeys` with a new object when they change (`setKeys`), never alters one, so a changed key is never sent from an
 * old encoding, and a lock's forgotten keys leave the cache with their object.
 */
const encodedKeys = new WeakMap<LockKeys, string>();
function keysJson(keys: LockKeys): string {
  let json = encodedKeys.get(keys);
  if (json === undefined) {
    const entry: NonNullable<ReportUpload["items"][number]["keys"]> = {
      identity: toBase64Url(keys.identity),
      x25519: toBase64Url(keys.x25519),
    };
    json = `,"keys":${JSON.stringify(entry)}`;
    encodedKeys.set(keys, json);
  }
  return json;
}

/**
 * `POST /bridge/v1/reports` body (docs/bridge-api.md "Reports from the lock"): each report's stored bytes as base64url,
 * untouched, with the lock's public keys when the bridge holds them (the cloud pins them at a lock's first report and
 * then requires the same ones; sending them every time costs ~90 bytes an item and needs no bookkeeping). Written as
 * JSON text directly (base64url needs no escaping), without an object per item.
 */
export function reportsBody(items: readonly ReportItem[], keysOf: (lockId: string) => LockKeys | null): string {
  let body = '{"items":[';
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const keys = keysOf(item.lockId);
    body += `${i === 0 ? "" : ","}{"lockId":${JSON.stringify(item.lockId)},"report":"${toBase64Url(item.report)}"${keys ? keysJson(keys) : ""}}`;
  }
  return `${body}]}`;
}

/** `POST /bridge/v1/ingest` body: presence only (the bridge's own word), assembled from the stored JSON. */
export function presenceBody(items: readonly PresenceItem[]): string {
  return `{"presence":[${items.map((i) => i.body).join(",")}]}`;
}
