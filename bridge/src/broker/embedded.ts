import { randomUUID } from "node:crypto";
import type { EventEmitter } from "node:events";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { type AddressInfo, createServer, type Server } from "node:net";
import { join } from "node:path";
import { decodeLockKeys, decodeStatus, isValidLockId, type Topics } from "@latchkey/protocol";
import type { Aedes, AuthenticateError, Client, PublishPacket, Subscription } from "aedes";
import type { WebSocketServer } from "ws";
import type { MqttAccount } from "../config/schema.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import {
  homeAssistantMayPublish,
  homeAssistantMaySubscribe,
  lockMayPublish,
  lockMaySubscribe,
  type Principal,
} from "./acl.js";
import { BrokerCredentials } from "./credentials.js";
import { guardPacketSize, MAX_INBOUND_PACKET_BYTES } from "./packet-size-guard.js";
import { disableNumberCache } from "./packet-writer.js";
import { SqlitePersistence } from "./sqlite-persistence.js";
import type { InboundHandler, LockBroker, PublishOptions } from "./transport.js";

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  wsPort: number | null;
  dataDir: string;
  siteSecret: string;
  accounts: readonly MqttAccount[];
  topics: Topics;
  discoveryPrefix: string;
  /** True for ids of locks the bridge knows: an account may not take such a client id. */
  isKnownLock: (lockId: string) => boolean;
  metrics: BridgeMetrics;
  logger: Logger;
}

/** aedes' return code for a refused login (MQTT 3.1.1 "bad user name or password"). */
const BAD_CREDENTIALS = 4;

class AuthError extends Error implements Partial<AuthenticateError> {
  returnCode = BAD_CREDENTIALS as AuthenticateError["returnCode"];
}

/** What `lockMayPublish` answers for a lock's own events topic, not retained. */
const EVENTS = { ok: true, kind: "events" } as const;

/**
 * The embedded MQTT broker: aedes with its sessions, subscriptions, QoS 1 messages in flight and retained messages
 * persisted on disk (SqlitePersistence, `<dataDir>/broker.db`), a TCP listener and optionally a WebSocket one. Logins and the ACL are
 * enforced in aedes' hooks, and a lock's message is handed to the bridge inside `authorizePublish`, whose callback —
 * and so the PUBACK — waits until the bridge has stored it.
 */
export class EmbeddedBroker implements LockBroker {
  readonly kind = "embedded" as const;
  url = "";
  wsUrl: string | null = null;
  private aedes: Aedes | null = null;
  private persistence: SqlitePersistence | null = null;
  private tcp: Server | null = null;
  private http: HttpServer | null = null;
  private wss: WebSocketServer | null = null;
  private readonly principals = new WeakMap<Client, Principal>();
  /** Each lock client's events topic: its most frequent publish is recognised without parsing the topic. */
  private readonly eventTopics = new WeakMap<Client, string>();
  private readonly credentials: BrokerCredentials;
  private accepting = true;
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly options: EmbeddedBrokerOptions) {
    this.credentials = new BrokerCredentials(options.siteSecret, options.accounts);
  }

  get connected(): boolean {
    return this.aedes !== null && !this.aedes.closed;
  }

  get clients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async start(handler: InboundHandler): Promise<void> {
    const { Aedes } = await import("aedes");
    disableNumberCache();
    const { logger, metrics, topics } = this.options;
    this.persistence = new SqlitePersistence(join(this.options.dataDir, "broker.db"), (fix) =>
      logger.warn(fix, "narrowed the mode of a data file other local users could read"),
    );
    const aedes = await Aedes.createBroker({
      // A fresh id per run: wills a crashed run left behind are published for locks that do not come back.
      id: `latchkey-bridge-${randomUUID()}`,
      persistence: this.persistence,
      maxClientsIdLength: 128,
      connectTimeout: 10_000,
      preConnect: (client, _packet, done) => this.unlessAbandoned(client, done),
      authenticate: (client, username, password, done) => {
        const principal = this.accepting ? this.credentials.check(client.id, username, password) : null;
        if (!principal) {
          metrics.authFailures.inc();
          logger.warn({ clientId: client.id?.slice(0, 128), username: username?.slice(0, 128) }, "mqtt login refused");
          return done(new AuthError("bad username or password") as AuthenticateError, null);
        }
        if (principal.role !== "lock" && isValidLockId(client.id) && this.options.isKnownLock(client.id)) {
          metrics.authFailures.inc();
          logger.warn({ clientId: client.id, username }, "mqtt login refused: an account used a lock's client id");
          return done(new AuthError("client id reserved for a lock") as AuthenticateError, null);
        }
        this.principals.set(client, principal);
        if (principal.role === "lock") this.eventTopics.set(client, topics.lock(principal.lockId, "events"));
        done(null, true);
      },
      authorizePublish: (client, packet, done) => this.authorizePublish(handler, client, packet, done),
      authorizeSubscribe: (client, sub, done) => done(null, this.authorizeSubscribe(client, sub)),
      authorizeForward: (client, packet) => {
        const principal = this.principals.get(client);
        if (principal?.role === "lock" && !packet.topic.startsWith(topics.lockRoot(principal.lockId))) return null;
        return packet;
      },
    });
    this.aedes = aedes;
    aedes.on("clientReady", (client) => {
      const p = this.principals.get(client);
      if (p?.role === "lock") handler.lockConnection?.(p.lockId, true);
    });
    aedes.on("clientDisconnect", (client) => {
      const p = this.principals.get(client);
      if (p?.role === "lock") handler.lockConnection?.(p.lockId, false);
    });
    aedes.on("subscribe", (subscriptions, client) => {
      const p = this.principals.get(client);
      if (p?.role === "lock" && subscriptions.some((s) => s.topic === topics.lock(p.lockId, "cmd")))
        handler.lockSubscribed?.(p.lockId);
    });
    aedes.on("publish", (packet, client) => {
      // After the packet went out: discovery published now gets later broker counters than this status, so aedes'
      // per-broker duplicate filter does not drop it for a client subscribed to both.
      if (
        client &&
        this.principals.get(client)?.role === "homeassistant" &&
        packet.topic === `${this.options.discoveryPrefix}/status`
      )
        handler.homeAssistantStatus(packet.payload as Buffer);
    });
    aedes.on("clientError", (client, err) =>
      logger.debug({ clientId: client.id, err: err.message }, "mqtt client error"),
    );
    aedes.on("connectionError", (_client, err) => logger.debug({ err: err.message }, "mqtt connection error"));
    // aedes emits its own failures (its periodic will sweep writing to a full disk, say) as 'error': unheard, an
    // EventEmitter throws them and the bridge dies. The broker carries on and the next sweep tries again.
    (aedes as unknown as EventEmitter).on("error", (err: Error) =>
      logger.warn({ err: err.message }, "mqtt broker error"),
    );

    // No Nagle delay: MQTT messages are small, and a state or PUBACK held back 40 ms is latency for nothing.
    this.tcp = createServer({ noDelay: true }, (socket) => {
      aedes.handle(socket);
      guardPacketSize(socket, MAX_INBOUND_PACKET_BYTES, (announced) => {
        metrics.messagesRejected.inc({ reason: "packet_too_large" });
        logger.warn(
          { remoteAddress: socket.remoteAddress, announced, limit: MAX_INBOUND_PACKET_BYTES },
          "mqtt packet over the size limit: connection closed",
        );
      });
    });
    const port = await listen(this.tcp, this.options.port, this.options.host);
    this.url = `mqtt://${urlHost(this.options.host)}:${port}`;
    if (this.options.wsPort !== null) {
      // Loaded only when a WebSocket port is configured.
      const { createWebSocketStream, WebSocketServer } = await import("ws");
      this.http = createHttpServer((_req, res) => res.writeHead(426, { connection: "close" }).end());
      // ws refuses a frame over maxPayload before buffering it (the TCP listener has its own guard).
      this.wss = new WebSocketServer({ server: this.http, maxPayload: MAX_INBOUND_PACKET_BYTES + 8 });
      this.wss.on("connection", (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on("error", () => stream.destroy());
        aedes.handle(stream, req);
      });
      const wsPort = await listen(this.http, this.options.wsPort, this.options.host);
      this.wsUrl = `ws://${urlHost(this.options.host)}:${wsPort}`;
    }
  }

  /**
   * Sets up a connection only if its client still holds it. A lock that gave up waiting for its CONNACK (10 s in the
   * reference lock, docs/mqtt.md "Reconnecting") has closed its end, but during a site's reconnect storm the connection
   * can still wait in the kernel's accept queue with its CONNECT and that close behind it. Set up, it cost the bridge a
   * whole session (login, the session read from SQLite, its will stored, the CONNACK, then the will published and
   * uploaded as it closed) and took over the session of the same lock's newer connection (MQTT-3.1.4-2), which then
   * dialled again into the same queue: on a starved bridge a full queue held mostly such connections, and the waste
   * grew with the overload (scripts/README.md "Issue 17, sixth pass: the reconnect storm and the abandoned connects").
   * The kernel already has the close: reading it takes the loop's next poll after the one that read the CONNECT, hence
   * two turns (a `setImmediate` queued from a check phase runs after the following poll).
   */
  private unlessAbandoned(client: Client, done: (error: Error | null, success: boolean) => void): void {
    setImmediate(() =>
      setImmediate(() => {
        if (!client.closed) return done(null, true);
        this.options.metrics.connectsAbandoned.inc();
        done(null, false);
      }),
    );
  }

  private authorizePublish(
    handler: InboundHandler,
    client: Client | null,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    const { topics, metrics, logger } = this.options;
    // The broker publishes a will of a client of an earlier run with no client: only a lock's own status passes.
    const principal: Principal | undefined = client
      ? this.principals.get(client)
      : isValidLockId((packet as { clientId?: string }).clientId)
        ? { role: "lock", lockId: (packet as unknown as { clientId: string }).clientId }
        : undefined;
    if (!principal) {
      done(new Error("not authorized"));
      return;
    }
    if (principal.role === "lock") {
      const decision =
        client && !packet.retain && packet.topic === this.eventTopics.get(client)
          ? EVENTS
          : lockMayPublish(topics, principal.lockId, packet.topic, packet.retain);
      if (!decision.ok) {
        metrics.aclDenied.inc({ action: "publish" });
        logger.warn({ lockId: principal.lockId, topic: packet.topic, reason: decision.reason }, "mqtt publish refused");
        done(new Error(`publish refused: ${decision.reason}`));
        return;
      }
      // A status or keys message that does not decode is acknowledged and dropped (LockMessages): it must not stay
      // retained either, where every later subscriber (Home Assistant, the bridge after a restart) would be served it.
      if (decision.kind === "status" && !isPresence(packet.payload)) packet.retain = false;
      if (decision.kind === "keys" && !isLockKeys(packet.payload)) packet.retain = false;
      if (!this.accepting && decision.kind !== "status") {
        done(new Error("bridge is shutting down"));
        return;
      }
      handler.lockMessage(principal.lockId, decision.kind, packet.payload as Buffer).then(
        () => done(null),
        (e: Error) => done(e),
      );
      return;
    }
    const decision = homeAssistantMayPublish(topics, this.options.discoveryPrefix, packet.topic);
    if (!decision.ok) {
      metrics.aclDenied.inc({ action: "publish" });
      logger.warn({ username: principal.username, topic: packet.topic }, "mqtt publish refused");
      done(new Error(`publish refused: ${decision.reason}`));
      return;
    }
    if (decision.what === "status") handler.homeAssistantStatus(packet.payload as Buffer);
    else
      logger.warn(
        { topic: packet.topic },
        "Home Assistant asked to operate a lock; the bridge opens locks only with a key token",
      );
    done(null);
  }

  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const principal = this.principals.get(client);
    const { topics } = this.options;
    const allowed =
      principal?.role === "lock"
        ? lockMaySubscribe(topics, principal.lockId, sub.topic)
        : principal?.role === "homeassistant"
          ? homeAssistantMaySubscribe(topics, this.options.discoveryPrefix, sub.topic)
          : false;
    if (!allowed) {
      this.options.metrics.aclDenied.inc({ action: "subscribe" });
      this.options.logger.warn({ clientId: client.id, topic: sub.topic }, "mqtt subscription refused");
      return null;
    }
    return sub;
  }

  /**
   * The bridge's publishes to one audience go out one after the other. aedes drops a packet for a subscriber when it
   * has already delivered a later one from the same broker (its duplicate filter compares broker counters), and a
   * retained or queued publish takes a detour through the persistence where the next one could overtake it. A lock
   * subscribes only to its own topics, so publishes to different locks need no order between them and go in parallel;
   * everything else (Home Assistant, the bridge's status) shares one chain.
   */
  publish(topic: string, payload: Uint8Array | string, options: PublishOptions): Promise<void> {
    const body =
      typeof payload === "string"
        ? Buffer.from(payload, "utf8")
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const send = () =>
      new Promise<void>((resolve, reject) => {
        const aedes = this.aedes;
        if (!aedes || aedes.closed) return reject(new Error("broker closed"));
        aedes.publish(
          { cmd: "publish", topic, payload: body, qos: options.qos, retain: options.retain ?? false, dup: false },
          (err) => (err ? reject(err) : resolve()),
        );
      });
    const parsed = this.options.topics.parse(topic);
    const audience = parsed?.scope === "lock" ? parsed.lockId : "";
    const previous = this.chains.get(audience) ?? Promise.resolve();
    const result = previous.then(send, send);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.chains.set(audience, tail);
    // Forget a finished chain, so the map holds only audiences with publishes in flight.
    void tail.then(() => {
      if (this.chains.get(audience) === tail) this.chains.delete(audience);
    });
    return result;
  }

  async stopAccepting(): Promise<void> {
    this.accepting = false;
    const closing: Promise<void>[] = [];
    if (this.tcp) closing.push(closeServer(this.tcp));
    if (this.wss) this.wss.close();
    if (this.http) closing.push(closeServer(this.http));
    // Existing connections stay open until close(): status and in-flight PUBACKs still complete.
    await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 100))]);
  }

  async close(): Promise<void> {
    this.accepting = false;
    const aedes = this.aedes;
    this.aedes = null;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const server of [this.tcp, this.http]) if (server) await closeServer(server);
    this.tcp = null;
    this.http = null;
    this.wss = null;
    await this.persistence?.destroy();
    this.persistence = null;
  }
}

/**
 * The listeners' accept queue: every lock of a site redials at once when the bridge restarts, and while its event loop
 * is busy starting (locks, sessions, the change feed) the kernel holds their connections here. Node's default, 511,
 * overflowed at 5,000 locks: the kernel dropped handshakes and answered SYN-cookie connections with resets, and those
 * locks lost their connect to a reset or a CONNACK timeout. The kernel caps it at `net.core.somaxconn` (4,096 by default
 * since Linux 5.4).
 */
export const LISTEN_BACKLOG = 65_535;

function listen(server: Server | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    if ("closeAllConnections" in server) (server as HttpServer).closeAllConnections();
  });
}

function isPresence(payload: Buffer | string): boolean {
  try {
    decodeStatus(typeof payload === "string" ? Buffer.from(payload) : payload);
    return true;
  } catch {
    return false;
  }
}

function isLockKeys(payload: Buffer | string): boolean {
  try {
    decodeLockKeys(typeof payload === "string" ? Buffer.from(payload) : payload);
    return true;
  } catch {
    return false;
  }
}

const urlHost = (host: string) => (host.includes(":") ? `[${host}]` : host);
