import { PassThrough } from "node:stream";
import { remainingLength } from "@latchkey/protocol/testing/mqtt-frames";
import { describe, expect, it } from "vitest";
import { guardPacketSize } from "../src/broker/packet-size-guard.js";

/** A stream under guard; `feed` writes chunks and reads them, as aedes does. */
function guarded(max: number) {
  const stream = new PassThrough();
  const refused: Array<number | null> = [];
  guardPacketSize(stream, max, (announced) => refused.push(announced));
  stream.on("readable", () => {
    while (stream.read() !== null) {
      // aedes parses what it reads; here the bytes are just consumed
    }
  });
  const feed = async (...chunks: number[][]) => {
    for (const c of chunks) stream.write(Buffer.from(c));
    await new Promise((r) => setImmediate(r));
  };
  return { stream, refused, feed };
}

const frame = (body: number) => [0x30, ...remainingLength(body), ...new Array(body).fill(0x41)];

describe("packet size guard", () => {
  it("lets frames up to the limit through, split anywhere across chunks", async () => {
    const g = guarded(300);
    const bytes = [...frame(0), ...frame(127), ...frame(128), ...frame(300), 0xc0, 0x00];
    // Every split point, one byte at a time.
    await g.feed(...bytes.map((b) => [b]));
    expect(g.refused).toEqual([]);
    expect(g.stream.destroyed).toBe(false);
  });

  it("closes the stream at a header announcing more than the limit, before its body", async () => {
    const g = guarded(300);
    await g.feed(frame(10), [0x10, 0xad, 0x02]); // remaining length 301
    expect(g.refused).toEqual([301]);
    expect(g.stream.destroyed).toBe(true);
  });

  it("closes the stream on a remaining length of more than four bytes", async () => {
    const g = guarded(1 << 30);
    await g.feed([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    expect(g.refused).toEqual([null]);
    expect(g.stream.destroyed).toBe(true);
  });
});
