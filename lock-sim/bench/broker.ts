import { createServer } from "node:net";

/** An in-process aedes broker on 127.0.0.1 for the benchmark, counting what arrives per topic kind. */
export interface BenchBroker {
  url: string;
  counts: Map<string, number>;
  /** Publishes a retained message as the bridge would (a lock's signed state). */
  publishRetained(topic: string, payload: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export async function startBenchBroker(): Promise<BenchBroker> {
  const { Aedes } = await import("aedes");
  const broker = await Aedes.createBroker();
  const counts = new Map<string, number>();
  broker.on("publish", (packet, client) => {
    if (client === null) return;
    const kind = packet.topic.split("/").slice(3).join("/");
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  });
  const server = createServer(broker.handle);
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    counts,
    publishRetained(topic, payload) {
      return new Promise<void>((resolve, reject) =>
        broker.publish(
          { cmd: "publish", topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false },
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
