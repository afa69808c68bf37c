import type { LockTopicKind, Topics } from "@latchkey/protocol";

/**
 * Who may do what on the broker (docs/mqtt.md). Pure decisions, so the same rules are unit-tested without a broker.
 * - A lock may publish only its own `status` and `keys` (retained allowed only there), `events`, `telemetry`,
 *   `cmd/result`, `time/request`, and subscribe only to its own `cmd`, `state` and `time/answer` (exact topics, no
 *   wildcards). `state` and `time/answer` carry the authority's documents: only the bridge publishes them.
 * - A Home Assistant account may read discovery, the bridge's Home Assistant state topics and lock/bridge status, and
 *   publish Home Assistant's own status and lock commands (which the bridge declines to carry out).
 * Everything else is refused.
 */
export type Principal = { role: "lock"; lockId: string } | { role: "homeassistant"; username: string };

const LOCK_PUBLISH: readonly LockTopicKind[] = ["status", "keys", "events", "telemetry", "cmd/result", "time/request"];
const LOCK_SUBSCRIBE: readonly LockTopicKind[] = ["cmd", "state", "time/answer"];
/** What a lock may leave retained: its presence (and last will) and its public keys, published at every connect. */
const LOCK_RETAINED: readonly LockTopicKind[] = ["status", "keys"];

export type PublishDecision = { ok: true; kind: LockTopicKind } | { ok: false; reason: string };

export function lockMayPublish(topics: Topics, lockId: string, topic: string, retain: boolean): PublishDecision {
  const parsed = topics.parse(topic);
  if (parsed?.scope !== "lock") return { ok: false, reason: "not a lock topic" };
  if (parsed.lockId !== lockId) return { ok: false, reason: `topic of another lock (${parsed.lockId})` };
  if (!LOCK_PUBLISH.includes(parsed.kind)) return { ok: false, reason: `locks may not publish ${parsed.kind}` };
  if (retain && !LOCK_RETAINED.includes(parsed.kind))
    return { ok: false, reason: `retained ${parsed.kind} not allowed` };
  return { ok: true, kind: parsed.kind };
}

export function lockMaySubscribe(topics: Topics, lockId: string, filter: string): boolean {
  return LOCK_SUBSCRIBE.some((kind) => filter === topics.lock(lockId, kind));
}

/** Home Assistant's topics under the bridge's prefix: `<prefix>/ha/<lockId>/state|battery|set`. */
export const homeAssistantStateRoot = (topics: Topics): string => `${topics.prefix}/ha/`;

export type HomeAssistantPublish = { ok: true; what: "status" | "command" } | { ok: false; reason: string };

export function homeAssistantMayPublish(topics: Topics, discoveryPrefix: string, topic: string): HomeAssistantPublish {
  if (topic === `${discoveryPrefix}/status`) return { ok: true, what: "status" };
  const root = homeAssistantStateRoot(topics);
  if (topic.startsWith(root) && topic.endsWith("/set") && topic.slice(root.length, -4).split("/").length === 1)
    return { ok: true, what: "command" };
  return { ok: false, reason: "Home Assistant may publish only its status and lock commands" };
}

export function homeAssistantMaySubscribe(topics: Topics, discoveryPrefix: string, filter: string): boolean {
  if (filter === `${discoveryPrefix}/#` || filter.startsWith(`${discoveryPrefix}/`)) return true;
  const root = homeAssistantStateRoot(topics);
  if (filter === `${root}#` || filter.startsWith(root)) return true;
  const levels = filter.split("/");
  const prefixLevels = topics.prefix.split("/").length;
  if (levels.length !== prefixLevels + 3 || levels.slice(0, prefixLevels).join("/") !== topics.prefix) return false;
  const [scope, id, last] = levels.slice(prefixLevels);
  const idOk = id === "+" || (id !== undefined && !id.includes("#") && !id.includes("+"));
  return (scope === "locks" || scope === "bridges") && idOk && last === "status";
}
