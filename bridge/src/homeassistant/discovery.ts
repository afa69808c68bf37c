import { createHash } from "node:crypto";
import type { Topics } from "@latchkey/protocol";
import type { LockInfo } from "../locks/registry.js";

/**
 * Home Assistant MQTT discovery payloads (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery): per lock a
 * `lock` entity (state LOCKED / UNLOCKED / JAMMED) and a battery `sensor`, grouped as one device via the bridge.
 * Availability needs both the lock's own status topic and the bridge's.
 */

/** Discovery ids allow [a-zA-Z0-9_-]; lock ids may also hold `.` and `:`, so those get a short hash to stay unique. */
export function nodeId(lockId: string): string {
  const safe = lockId.replace(/[^A-Za-z0-9_-]/g, "_");
  return safe === lockId
    ? `latchkey_${safe}`
    : `latchkey_${safe}_${createHash("sha256").update(lockId).digest("hex").slice(0, 6)}`;
}

export interface HaTopics {
  lockConfig: string;
  batteryConfig: string;
  state: string;
  battery: string;
  command: string;
}

export function haTopics(topics: Topics, discoveryPrefix: string, lockId: string): HaTopics {
  const node = nodeId(lockId);
  const root = `${topics.prefix}/ha/${lockId}`;
  return {
    lockConfig: `${discoveryPrefix}/lock/${node}/lock/config`,
    batteryConfig: `${discoveryPrefix}/sensor/${node}/battery/config`,
    state: `${root}/state`,
    battery: `${root}/battery`,
    command: `${root}/set`,
  };
}

export function discoveryPayloads(
  topics: Topics,
  discoveryPrefix: string,
  bridgeId: string,
  lockId: string,
  version: string,
): { lock: string; battery: string } {
  const t = haTopics(topics, discoveryPrefix, lockId);
  const node = nodeId(lockId);
  const availability = [
    { topic: topics.lock(lockId, "status"), payload_available: "online", payload_not_available: "offline" },
    { topic: topics.bridgeStatus(bridgeId), payload_available: "online", payload_not_available: "offline" },
  ];
  const device = {
    identifiers: [node],
    name: `Lock ${lockId}`,
    manufacturer: "latchkey",
    model: "latchkey lock",
    via_device: `latchkey_bridge_${bridgeId.replace(/[^A-Za-z0-9_-]/g, "_")}`,
  };
  const origin = { name: "latchkey-bridge", sw_version: version };
  return {
    lock: JSON.stringify({
      name: null,
      unique_id: `${node}_lock`,
      state_topic: t.state,
      // Required by Home Assistant; the bridge declines such commands (doors open only with a key token).
      command_topic: t.command,
      state_locked: "LOCKED",
      state_unlocked: "UNLOCKED",
      state_jammed: "JAMMED",
      optimistic: false,
      availability,
      availability_mode: "all",
      device,
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
      device,
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
