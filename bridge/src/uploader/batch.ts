import type { OutboxKind, StoredItem } from "../outbox/outbox.js";

const SECTION: Record<OutboxKind, "events" | "telemetry" | "presence"> = {
  event: "events",
  telemetry: "telemetry",
  presence: "presence",
};

/** The ingest request body, assembled from the stored JSON of each item (nothing is decoded again). */
export function ingestBody(items: readonly StoredItem[]): string {
  const parts: Record<"events" | "telemetry" | "presence", string[]> = { events: [], telemetry: [], presence: [] };
  for (const item of items) parts[SECTION[item.kind]].push(item.body);
  const sections = Object.entries(parts)
    .filter(([, bodies]) => bodies.length > 0)
    .map(([name, bodies]) => `"${name}":[${bodies.join(",")}]`);
  return `{${sections.join(",")}}`;
}

export function countByKind(items: readonly StoredItem[]): Record<OutboxKind, number> {
  const counts: Record<OutboxKind, number> = { event: 0, telemetry: 0, presence: 0 };
  for (const item of items) counts[item.kind]++;
  return counts;
}
