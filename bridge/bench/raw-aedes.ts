import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BenchLock, benchLockIds, connectAll } from "./lock-clients.js";

export interface ThroughputResult {
  messages: number;
  seconds: number;
  perSecond: number;
}

/**
 * The ceiling for the bridge: a bare aedes broker in its own process taking QoS 1 publishes from `clients` mqtt.js
 * clients (in this process), each keeping `window` in flight, timed until every PUBACK arrived. Nobody subscribes.
 */
export async function benchRawAedes(
  options: { clients?: number; messagesPerClient?: number; window?: number } = {},
): Promise<ThroughputResult> {
  const clients = options.clients ?? 100;
  const perClient = options.messagesPerClient ?? 200;
  const window = options.window ?? 16;
  const child = fork(fileURLToPath(new URL("./raw-aedes-server.js", import.meta.url)), { stdio: "ignore" });
  const exited = new Promise((r) => child.once("exit", r));
  try {
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      child.once("message", (m) => resolve(m as { port: number }));
      child.once("error", reject);
    });
    const url = `mqtt://127.0.0.1:${port}`;
    const locks = benchLockIds(clients, "raw").map((id) => new BenchLock(id, url, "raw-aedes-bench-secret-0000"));
    try {
      await connectAll(locks, { subscribe: false });
      const started = performance.now();
      await Promise.all(locks.map((l) => l.publishEvents(perClient, window, `raw/${l.lockId}/events`)));
      const seconds = (performance.now() - started) / 1000;
      const messages = clients * perClient;
      return { messages, seconds: Math.round(seconds * 1000) / 1000, perSecond: Math.round(messages / seconds) };
    } finally {
      await Promise.all(locks.map((l) => l.close()));
    }
  } finally {
    child.kill();
    await exited;
  }
}
