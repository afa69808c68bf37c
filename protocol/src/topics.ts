import { isValidLockId } from "./messages/fields.js";

/**
 * MQTT topics of docs/design.md section 3 under a configurable prefix (default `latchkey`). Builders refuse ids that
 * would change a topic's meaning (`/`, `+`, `#`); the parser answers null for anything that is not one of ours.
 */
export const DEFAULT_TOPIC_PREFIX = "latchkey";

/**
 * `state`, `time/request` and `time/answer` carry the signed documents of docs/trust.md, `events` and `telemetry` the
 * lock's sealed reports and `keys` its public keys (docs/mqtt.md): the bridge only relays them.
 */
export const LOCK_TOPIC_KINDS = [
  "status",
  "events",
  "telemetry",
  "keys",
  "cmd",
  "cmd/result",
  "state",
  "time/request",
  "time/answer",
] as const;
export type LockTopicKind = (typeof LOCK_TOPIC_KINDS)[number];

export type ParsedTopic =
  | { scope: "lock"; lockId: string; kind: LockTopicKind }
  | { scope: "bridge"; bridgeId: string; kind: "status" };

const PREFIX_PATTERN = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;

function checkId(id: string, what: string): string {
  if (!isValidLockId(id)) throw new TypeError(`${what} "${id}" is not a valid id for a topic`);
  return id;
}

export class Topics {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_TOPIC_PREFIX) {
    if (!PREFIX_PATTERN.test(prefix))
      throw new TypeError(`topic prefix "${prefix}" must be plain topic levels without wildcards`);
    this.prefix = prefix;
  }

  lock(lockId: string, kind: LockTopicKind): string {
    return `${this.prefix}/locks/${checkId(lockId, "lock id")}/${kind}`;
  }

  /** Everything under one lock: what that lock may publish and subscribe to. */
  lockRoot(lockId: string): string {
    return `${this.prefix}/locks/${checkId(lockId, "lock id")}/`;
  }

  /** Wildcard subscription for one kind across every lock. */
  allLocks(kind: LockTopicKind): string {
    return `${this.prefix}/locks/+/${kind}`;
  }

  bridgeStatus(bridgeId: string): string {
    return `${this.prefix}/bridges/${checkId(bridgeId, "bridge id")}/status`;
  }

  parse(topic: string): ParsedTopic | null {
    if (!topic.startsWith(`${this.prefix}/`)) return null;
    const rest = topic.slice(this.prefix.length + 1).split("/");
    if (rest[0] === "locks" && rest.length >= 3 && isValidLockId(rest[1])) {
      const kind = rest.slice(2).join("/");
      if ((LOCK_TOPIC_KINDS as readonly string[]).includes(kind)) {
        return { scope: "lock", lockId: rest[1], kind: kind as LockTopicKind };
      }
    }
    if (rest[0] === "bridges" && rest.length === 3 && isValidLockId(rest[1]) && rest[2] === "status") {
      return { scope: "bridge", bridgeId: rest[1], kind: "status" };
    }
    return null;
  }
}
