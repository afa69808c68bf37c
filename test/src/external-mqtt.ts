import { randomBytes } from "node:crypto";
import mqtt from "mqtt";

/**
 * Tests on a shared external broker (MQTT_URL, e.g. the machine's Mosquitto) use topic prefixes and client ids of
 * their own, and leave nothing behind: no retained message under their prefixes, no persistent session.
 */
export interface ExternalBrokerRun {
  url: string;
  topicPrefix: string;
  discoveryPrefix: string;
  /** A suffix for lock ids (client ids on the broker), unique to this run. */
  tag: string;
}

export function externalBrokerRun(url: string): ExternalBrokerRun {
  const tag = randomBytes(4).toString("hex");
  return { url, topicPrefix: `latchkey-e2e-${tag}`, discoveryPrefix: `ha-e2e-${tag}`, tag };
}

/**
 * Clears the retained messages under the run's prefixes (an empty retained publish deletes one) and ends the
 * persistent sessions of `clientIds` (a clean connect with the same id discards a session).
 */
export async function cleanExternalBroker(run: ExternalBrokerRun, clientIds: string[]): Promise<void> {
  const client = await mqtt.connectAsync(run.url, {
    clientId: `latchkey-e2e-cleaner-${run.tag}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  try {
    const retained = new Set<string>();
    const marker = `${run.topicPrefix}/e2e-cleanup-marker`;
    let markerSeen: () => void = () => {};
    const seen = new Promise<void>((resolve) => {
      markerSeen = resolve;
    });
    client.on("message", (topic, payload, packet) => {
      if (topic === marker) markerSeen();
      else if (packet.retain && payload.length > 0) retained.add(topic);
    });
    await client.subscribeAsync([`${run.topicPrefix}/#`, `${run.discoveryPrefix}/#`], { qos: 1 });
    // The broker sends retained messages on subscribing, before anything published after the SUBACK.
    await client.publishAsync(marker, "done", { qos: 1 });
    await seen;
    for (const topic of retained) await client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
  for (const clientId of clientIds) {
    const session = await mqtt
      .connectAsync(run.url, { clientId, clean: true, reconnectPeriod: 0, connectTimeout: 5000 })
      .catch(() => null);
    await session?.endAsync();
  }
}
