import { createHash } from "node:crypto";
import type { Topics } from "@latchkey/protocol";
import type { LockInfo } from "../locks/registry.js";

/**
 * Home Assistant MQTT discovery payloads (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery).
 * - The bridge is a device of its own (its cloud link, locks online, outbox, status), so each lock's `via_device`
 *   names a device Home Assistant knows.
 * - Per lock, a device with a read-only lock state `sensor` (enum: locked / unlocked / jammed) and a battery
 *   `sensor`. Not a `lock` entity: Home Assistant's MQTT lock requires a command topic and shows lock / unlock
 *   buttons, and no MQTT message opens a latchkey door (only a key, or a remote command the cloud signs, which the
 *   integrator API issues: docs/bridge-api.md "Remote actions"). The retired lock entity's config is cleared.
 * Lock entities are available while both the lock's own status topic and the bridge's say `online`.
 * Everything shown is the bridge's peek into the locks' reports: unauthenticated, for display (docs/mqtt.md).
 */

/** Discovery ids allow [a-zA-Z0-9_-]; lock ids may also hold `.` and `:`, so those get a short hash to stay unique. */
export function nodeId(lockId: string): string {
  const safe = lockId.replace(/[^A-Za-z0-9_-]/g, "_");
  return safe === lockId
    ? `latchkey_${safe}`
    : `latchkey_${safe}_${createHash("sha256").update(lockId).digest("hex").slice(0, 6)}`;
}

/** The bridge's device identifier and discovery node id (the locks' `via_device`). */
export function bridgeNodeId(bridgeId: string): string {
  return `latchkey_bridge_${nodeId(bridgeId).slice("latchkey_".length)}`;
}

export interface HaTopics {
  /** The lock state sensor's discovery config. */
  stateConfig: string;
  batteryConfig: string;
  /** Where the retired `lock` entity's config was (cleared: an empty retained payload removes the entity). */
  retiredLockConfig: string;
  state: string;
  battery: string;
}

export function haTopics(topics: Topics, discoveryPrefix: string, lockId: string): HaTopics {
  const node = nodeId(lockId);
  const root = `${topics.prefix}/ha/${lockId}`;
  return {
    stateConfig: `${discoveryPrefix}/sensor/${node}/lock_state/config`,
    batteryConfig: `${discoveryPrefix}/sensor/${node}/battery/config`,
    retiredLockConfig: `${discoveryPrefix}/lock/${node}/lock/config`,
    state: `${root}/state`,
    battery: `${root}/battery`,
  };
}

/** The bridge's own state topic (lock ids never start with `_`, so no lock's topics are here). */
export const bridgeStateTopic = (topics: Topics, bridgeId: string): string => `${topics.prefix}/ha/_bridge/${bridgeId}`;

/** What the bridge device's entities read (JSON on `bridgeStateTopic`). */
export interface BridgeHaState {
  status: string;
  cloud_reachable: boolean;
  locks_online: number;
  locks_known: number;
  outbox_items: number;
  ble: string | null;
  degraded: string[];
}

const device = (bridgeId: string, version: string) => ({
  identifiers: [bridgeNodeId(bridgeId)],
  name: `latchkey bridge ${bridgeId}`,
  manufacturer: "latchkey",
  model: "latchkey-bridge",
  sw_version: version,
});

/** Discovery of the bridge device: topic → config. */
export function bridgeDiscovery(
  topics: Topics,
  discoveryPrefix: string,
  bridgeId: string,
  version: string,
): Record<string, string> {
  const node = bridgeNodeId(bridgeId);
  const common = {
    state_topic: bridgeStateTopic(topics, bridgeId),
    availability_topic: topics.bridgeStatus(bridgeId),
    payload_available: "online",
    payload_not_available: "offline",
    device: device(bridgeId, version),
    origin: { name: "latchkey-bridge", sw_version: version },
  };
  const entity = (component: string, object: string, config: Record<string, unknown>) => [
    `${discoveryPrefix}/${component}/${node}/${object}/config`,
    JSON.stringify({ ...config, unique_id: `${node}_${object}`, ...common }),
  ];
  return Object.fromEntries([
    entity("binary_sensor", "cloud", {
      name: "Cloud link",
      device_class: "connectivity",
      entity_category: "diagnostic",
      value_template: "{{ 'ON' if value_json.cloud_reachable else 'OFF' }}",
    }),
    entity("sensor", "status", {
      name: "Status",
      entity_category: "diagnostic",
      value_template: "{{ value_json.status }}",
      json_attributes_topic: bridgeStateTopic(topics, bridgeId),
      json_attributes_template: "{{ {'degraded': value_json.degraded, 'ble': value_json.ble} | tojson }}",
    }),
    entity("sensor", "locks_online", {
      name: "Locks online",
      state_class: "measurement",
      value_template: "{{ value_json.locks_online }}",
    }),
    entity("sensor", "outbox", {
      name: "Outbox",
      state_class: "measurement",
      unit_of_measurement: "items",
      entity_category: "diagnostic",
      value_template: "{{ value_json.outbox_items }}",
    }),
  ]);
}

export function discoveryPayloads(
  topics: Topics,
  discoveryPrefix: string,
  bridgeId: string,
  lockId: string,
  version: string,
): { state: string; battery: string } {
  const t = haTopics(topics, discoveryPrefix, lockId);
  const node = nodeId(lockId);
  const availability = [
    { topic: topics.lock(lockId, "status"), payload_available: "online", payload_not_available: "offline" },
    { topic: topics.bridgeStatus(bridgeId), payload_available: "online", payload_not_available: "offline" },
  ];
  const lockDevice = {
    identifiers: [node],
    name: `Lock ${lockId}`,
    manufacturer: "latchkey",
    model: "latchkey lock",
    via_device: bridgeNodeId(bridgeId),
  };
  const origin = { name: "latchkey-bridge", sw_version: version };
  return {
    state: JSON.stringify({
      name: "Lock state",
      unique_id: `${node}_lock_state`,
      device_class: "enum",
      options: ["locked", "unlocked", "jammed"],
      state_topic: t.state,
      value_template: "{{ value | lower }}",
      icon: "mdi:lock",
      availability,
      availability_mode: "all",
      device: lockDevice,
      origin,
    }),
    battery: JSON.stringify({
      name: "Battery",
      unique_id: `${node}_battery`,
      device_class: "battery",
      state_class: "measurement",
      unit_of_measurement: "%",
      state_topic: t.battery,
      value_template: "{{ value_json.level }}",
      json_attributes_topic: t.battery,
      availability,
      availability_mode: "all",
      device: lockDevice,
      origin,
    }),
  };
}

export function lockStateText(lock: LockInfo): string | null {
  switch (lock.lockState) {
    case "locked":
      return "LOCKED";
    case "unlocked":
      return "UNLOCKED";
    case "jammed":
      return "JAMMED";
    default:
      return null;
  }
}
