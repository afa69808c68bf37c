import { createRequire } from "node:module";

/**
 * mqtt-packet (aedes' and mqtt.js' encoder) builds, at the first packet it writes, a cache of 65,536 two-byte Buffers
 * for every possible packet id and length: ~6 MB of live heap (a Buffer object each), a third of an idle bridge's
 * heap (issue 17 item 2: the heap snapshot of an idle bridge). Without it the encoder takes its two bytes from Node's
 * pooled `allocUnsafe` per number, which costs nothing measurable per event. Set on the copy aedes itself loads, so
 * the switch reaches the encoder that writes to the locks; before the first packet, so the cache is never built.
 */
export function disableNumberCache(): void {
  const fromAedes = createRequire(createRequire(import.meta.url).resolve("aedes"));
  const mqttPacket = fromAedes("mqtt-packet") as { writeToStream: { cacheNumbers: boolean } };
  mqttPacket.writeToStream.cacheNumbers = false;
}
