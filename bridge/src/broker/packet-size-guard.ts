import type { Duplex } from "node:stream";

/**
 * The largest MQTT packet the embedded broker takes from a client. Lock messages are a few KiB at most (a command
 * result with its events stays under 100 KiB); aedes' parser would otherwise buffer whatever length a client announces,
 * before any login, so one unauthenticated connection could take the gateway's memory.
 */
export const MAX_INBOUND_PACKET_BYTES = 256 * 1024;

/**
 * Watches the bytes a client sends, frame by frame (MQTT fixed header: one type byte, a remaining length of 1–4
 * bytes, then that many bytes), and destroys the connection at the first header that announces more than `maxBytes`,
 * or a malformed length. It only observes: the broker keeps reading the stream as before (a 'data' listener beside
 * aedes' 'readable' one sees each chunk aedes reads and does not change the stream's mode).
 */
export function guardPacketSize(stream: Duplex, maxBytes: number, onRefused: (announced: number | null) => void): void {
  // State of the frame being read: in the header (type byte, then length bytes) or skipping its body.
  let inHeader = true;
  let sawType = false;
  let length = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let bodyLeft = 0;
  const refuse = (announced: number | null) => {
    stream.off("data", watch);
    onRefused(announced);
    stream.destroy();
  };
  const watch = (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (!inHeader) {
        const take = Math.min(bodyLeft, chunk.length - i);
        bodyLeft -= take;
        i += take;
        if (bodyLeft === 0) inHeader = true;
        continue;
      }
      if (!sawType) {
        sawType = true;
        i++;
        continue;
      }
      const byte = chunk[i++]!;
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      lengthBytes++;
      if (byte & 0x80) {
        // The specification allows at most four length bytes.
        if (lengthBytes === 4) return refuse(null);
        continue;
      }
      if (length > maxBytes) return refuse(length);
      bodyLeft = length;
      inHeader = bodyLeft === 0;
      sawType = false;
      length = 0;
      multiplier = 1;
      lengthBytes = 0;
    }
  };
  stream.on("data", watch);
}
