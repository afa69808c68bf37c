import { createServer, type Server } from "node:net";
import { checkLockPassword, Topics } from "@latchkey/protocol";
import type { Aedes, AuthenticateError, Client, PublishPacket } from "aedes";

/**
 * A real MQTT broker for tests: aedes on 127.0.0.1, port 0, enforcing the lock ACL of the switch-over contract (a lock
 * logs in as its id with its derived password and may publish only its own status and keys (retained), events,
 * telemetry, cmd/result and time/request, and subscribe only to its own state, cmd and time/answer). Every refused
 * operation is recorded, so a test can assert the lock never stepped outside.
 * `holdAcks` withholds PUBACKs the way a bridge does while its outbox is busy.
 */
export interface TestBroker {
  url: string;
  port: number;
  broker: Aedes;
  violations: string[];
  /** Publishes from locks, in arrival order. */
  published: { clientId: string; topic: string; payload: Buffer; qos: number; retain: boolean }[];
  /** While true, events from locks get no PUBACK (their authorizePublish callbacks are parked), as a busy bridge. */
  holdAcks: boolean;
  releaseAcks(): void;
  /** Disconnects every client abruptly (a broker restart as the clients see it). */
  dropClients(): void;
  close(): Promise<void>;
}

export const BRIDGE_USER = "bridge:test";
export const BRIDGE_PASSWORD = "bridge-test-password";

export async function startTestBroker(
  options: { siteSecret?: string; topicPrefix?: string; port?: number } = {},
): Promise<TestBroker> {
  const { Aedes } = await import("aedes");
  const topics = new Topics(options.topicPrefix);
  const roles = new WeakMap<Client, { bridge: boolean; lockId?: string }>();
  const parked: (() => void)[] = [];
  const state = {
    violations: [] as string[],
    published: [] as TestBroker["published"],
    holdAcks: false,
  };
  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const refuse = () => {
        const err = new Error("bad username or password") as AuthenticateError;
        (err as { returnCode: number }).returnCode = 4;
        done(err, false);
      };
      if (username === BRIDGE_USER) {
        if (password?.toString() !== BRIDGE_PASSWORD) return refuse();
        roles.set(client, { bridge: true });
        return done(null, true);
      }
      if (username === undefined || client.id !== username) return refuse();
      if (options.siteSecret !== undefined && !checkLockPassword(options.siteSecret, username, password ?? "")) {
        return refuse();
      }
      roles.set(client, { bridge: false, lockId: username });
      done(null, true);
    },
    authorizePublish(client, packet: PublishPacket, callback) {
      if (client === null) return callback(null);
      const role = roles.get(client);
      if (role?.bridge) return callback(null);
      const lockId = role?.lockId ?? "?";
      const parsed = topics.parse(packet.topic);
      const own = parsed?.scope === "lock" && parsed.lockId === lockId;
      const allowed =
        own && ["status", "keys", "events", "telemetry", "cmd/result", "time/request"].includes(parsed.kind);
      if (!allowed || (packet.retain && parsed?.kind !== "status" && parsed?.kind !== "keys")) {
        state.violations.push(`${lockId} published to ${packet.topic}${packet.retain ? " (retained)" : ""}`);
        return callback(new Error("not authorized"));
      }
      state.published.push({
        clientId: client.id,
        topic: packet.topic,
        payload: Buffer.from(packet.payload as Buffer),
        qos: packet.qos,
        retain: packet.retain,
      });
      if (state.holdAcks && parsed?.kind === "events") {
        parked.push(() => callback(null));
        return;
      }
      callback(null);
    },
    authorizeSubscribe(client, sub, callback) {
      const role = roles.get(client);
      if (role?.bridge) return callback(null, sub);
      const lockId = role?.lockId ?? "?";
      const mine = (["state", "cmd", "time/answer"] as const).map((kind) => topics.lock(lockId, kind));
      if (!mine.includes(sub.topic)) {
        state.violations.push(`${lockId} subscribed to ${sub.topic}`);
        return callback(null, null);
      }
      callback(null, sub);
    },
  });
  const server: Server = createServer(broker.handle);
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const result: TestBroker = {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    broker,
    get violations() {
      return state.violations;
    },
    get published() {
      return state.published;
    },
    get holdAcks() {
      return state.holdAcks;
    },
    set holdAcks(on: boolean) {
      state.holdAcks = on;
    },
    releaseAcks() {
      for (const release of parked.splice(0)) release();
    },
    dropClients() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      parked.splice(0);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
  return result;
}
