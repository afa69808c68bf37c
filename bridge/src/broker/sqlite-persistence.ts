import { Readable } from "node:stream";
import { deserialize, serialize } from "node:v8";
import type { Db } from "../store/database.js";
import { openDatabase } from "../store/database.js";
import type { ModeReport } from "../store/private-files.js";
import { topicMatches } from "./topic-match.js";

/**
 * An aedes persistence (the async interface of aedes-persistence 11, which aedes 1.x calls) on SQLite: sessions
 * (subscriptions), QoS 1/2 messages queued or in flight for offline clients, QoS 2 incoming packets, retained messages
 * and wills survive a restart of the bridge. It passes aedes-persistence's own conformance suite
 * (bridge/test/conformance). Subscriptions and retained topics are also indexed in memory (a few strings per lock), so
 * matching a published topic never touches the disk; packets are stored with v8 serialization (Buffers intact).
 */

type Packet = Record<string, unknown> & { topic?: string; payload?: Buffer; messageId?: number };
interface Client {
  id: string;
}
interface Subscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}
interface StoredSubscription {
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}
interface MatchedSubscription {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

const MIGRATIONS = [
  `
  CREATE TABLE retained (topic TEXT PRIMARY KEY, packet BLOB NOT NULL);
  CREATE TABLE subscriptions (
    client_id TEXT NOT NULL, topic TEXT NOT NULL, record BLOB NOT NULL, PRIMARY KEY (client_id, topic)
  );
  CREATE TABLE outgoing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    broker_id TEXT,
    broker_counter INTEGER,
    message_id INTEGER,
    packet BLOB NOT NULL
  );
  CREATE INDEX outgoing_client ON outgoing (client_id, id);
  CREATE TABLE incoming (client_id TEXT NOT NULL, message_id INTEGER NOT NULL, packet BLOB NOT NULL,
    PRIMARY KEY (client_id, message_id));
  CREATE TABLE wills (client_id TEXT PRIMARY KEY, broker_id TEXT, packet BLOB NOT NULL);
  `,
];

const pack = (value: unknown): Buffer => serialize(value);
const unpack = <T>(blob: Buffer): T => deserialize(blob) as T;

/** What aedes-packet's Packet keeps of a packet queued for a client (the in-memory persistence stores the same). */
function queuedPacket(original: Packet): Packet {
  const p: Packet = {};
  for (const key of ["clientId", "nl", "properties", "messageExpiry"])
    if (Object.hasOwn(original, key)) p[key] = original[key];
  p.cmd = original.cmd || "publish";
  p.brokerId = original.brokerId;
  p.brokerCounter = original.brokerCounter || 0;
  p.topic = original.topic;
  p.payload = (original.payload as Buffer | undefined) || Buffer.alloc(0);
  p.qos = original.qos || 0;
  p.retain = original.retain || false;
  p.dup = original.dup || false;
  if ((p.qos as number) > 0 || p.cmd !== "publish") p.messageId = undefined;
  return p;
}

const hasWildcard = (filter: string) => filter.includes("+") || filter.includes("#");

export class SqlitePersistence {
  private readonly db: Db;
  private readonly sql;
  private broker: { id: string } | null = null;
  /** clientId → topic → subscription. */
  private readonly subscriptions = new Map<string, Map<string, StoredSubscription>>();
  /** QoS > 0 subscriptions by exact topic and by wildcard filter: topic → clientId → match. */
  private readonly exact = new Map<string, Map<string, MatchedSubscription>>();
  private readonly wildcard = new Map<string, Map<string, MatchedSubscription>>();
  private readonly retainedTopics = new Set<string>();
  private destroyed = false;

  constructor(path: string, onModeNarrowed?: ModeReport) {
    this.db = openDatabase(path, {
      synchronous: "normal",
      migrations: MIGRATIONS,
      ...(onModeNarrowed ? { onModeNarrowed } : {}),
    });
    const db = this.db;
    this.sql = {
      putRetained: db.prepare("INSERT OR REPLACE INTO retained (topic, packet) VALUES (?, ?)"),
      delRetained: db.prepare("DELETE FROM retained WHERE topic = ?"),
      getRetained: db.prepare("SELECT packet FROM retained WHERE topic = ?").pluck(),
      putSub: db.prepare("INSERT OR REPLACE INTO subscriptions (client_id, topic, record) VALUES (?, ?, ?)"),
      delSub: db.prepare("DELETE FROM subscriptions WHERE client_id = ? AND topic = ?"),
      delSubs: db.prepare("DELETE FROM subscriptions WHERE client_id = ?"),
      enqueue: db.prepare(
        "INSERT INTO outgoing (client_id, broker_id, broker_counter, message_id, packet) VALUES (?, ?, ?, ?, ?)",
      ),
      byCounter: db.prepare(
        "SELECT id, packet FROM outgoing WHERE client_id = ? AND broker_id IS ? AND broker_counter IS ? ORDER BY id LIMIT 1",
      ),
      byMessageIdOtherBroker: db.prepare(
        "SELECT id FROM outgoing WHERE client_id = ? AND message_id = ? AND broker_id IS NOT ? ORDER BY id LIMIT 1",
      ),
      byMessageId: db.prepare(
        "SELECT id, packet FROM outgoing WHERE client_id = ? AND message_id = ? ORDER BY id LIMIT 1",
      ),
      setOutgoing: db.prepare(
        "UPDATE outgoing SET broker_id = ?, broker_counter = ?, message_id = ?, packet = ? WHERE id = ?",
      ),
      delOutgoing: db.prepare("DELETE FROM outgoing WHERE id = ?"),
      outgoingOf: db.prepare("SELECT packet FROM outgoing WHERE client_id = ? ORDER BY id").pluck(),
      putIncoming: db.prepare("INSERT OR REPLACE INTO incoming (client_id, message_id, packet) VALUES (?, ?, ?)"),
      getIncoming: db.prepare("SELECT packet FROM incoming WHERE client_id = ? AND message_id = ?").pluck(),
      delIncoming: db.prepare("DELETE FROM incoming WHERE client_id = ? AND message_id = ?"),
      cleanIncoming: db.prepare("DELETE FROM incoming WHERE client_id = ?"),
      putWill: db.prepare("INSERT OR REPLACE INTO wills (client_id, broker_id, packet) VALUES (?, ?, ?)"),
      getWill: db.prepare("SELECT packet FROM wills WHERE client_id = ?").pluck(),
      delWill: db.prepare("DELETE FROM wills WHERE client_id = ?"),
      wills: db.prepare("SELECT broker_id AS brokerId, packet FROM wills"),
    };
    for (const row of db.prepare("SELECT client_id, topic, record FROM subscriptions").iterate() as Iterable<{
      client_id: string;
      topic: string;
      record: Buffer;
    }>)
      this.remember(row.client_id, row.topic, unpack<StoredSubscription>(row.record));
    for (const topic of db.prepare("SELECT topic FROM retained").pluck().iterate() as Iterable<string>)
      this.retainedTopics.add(topic);
  }

  async setup(broker: { id: string }): Promise<void> {
    this.broker = broker;
  }

  // ── retained ────────────────────────────────────────────────────────────────────────────────────────────────────

  async storeRetained(packet: Packet): Promise<void> {
    const topic = packet.topic as string;
    if (!packet.payload || packet.payload.length === 0) {
      this.sql.delRetained.run(topic);
      this.retainedTopics.delete(topic);
    } else {
      this.sql.putRetained.run(topic, pack({ ...packet }));
      this.retainedTopics.add(topic);
    }
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const topics = new Set<string>();
    for (const pattern of patterns) {
      // A lock subscribes to exact topics: a lookup, not a scan of every retained topic.
      if (!hasWildcard(pattern)) {
        if (this.retainedTopics.has(pattern)) topics.add(pattern);
      } else for (const topic of this.retainedTopics) if (topicMatches(pattern, topic)) topics.add(topic);
    }
    const get = this.sql.getRetained;
    return Readable.from(
      (function* () {
        for (const topic of topics) {
          const blob = get.get(topic) as Buffer | undefined;
          if (blob) yield unpack<Packet>(blob);
        }
      })(),
    );
  }

  // ── subscriptions ───────────────────────────────────────────────────────────────────────────────────────────────

  private index(filter: string): Map<string, Map<string, MatchedSubscription>> {
    return hasWildcard(filter) ? this.wildcard : this.exact;
  }

  private remember(clientId: string, topic: string, record: StoredSubscription): void {
    let stored = this.subscriptions.get(clientId);
    if (!stored) {
      stored = new Map();
      this.subscriptions.set(clientId, stored);
    }
    stored.set(topic, record);
    const index = this.index(topic);
    let byClient = index.get(topic);
    if (record.qos > 0) {
      if (!byClient) {
        byClient = new Map();
        index.set(topic, byClient);
      }
      byClient.set(clientId, { clientId, topic, qos: record.qos, rh: record.rh, rap: record.rap, nl: record.nl });
    } else if (byClient?.delete(clientId) && byClient.size === 0) index.delete(topic);
  }

  private forget(clientId: string, topic: string): void {
    const stored = this.subscriptions.get(clientId);
    if (!stored?.delete(topic)) return;
    if (stored.size === 0) this.subscriptions.delete(clientId);
    const index = this.index(topic);
    const byClient = index.get(topic);
    if (byClient?.delete(clientId) && byClient.size === 0) index.delete(topic);
  }

  async addSubscriptions(client: Client, subs: Subscription[]): Promise<void> {
    this.db.transaction(() => {
      for (const sub of subs) {
        const record: StoredSubscription = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
        if (sub.subscriptionIdentifier !== undefined) record.subscriptionIdentifier = sub.subscriptionIdentifier;
        this.sql.putSub.run(client.id, sub.topic, pack(record));
        this.remember(client.id, sub.topic, record);
      }
    })();
  }

  async removeSubscriptions(client: Client, topics: string[]): Promise<void> {
    this.db.transaction(() => {
      for (const topic of topics) {
        this.sql.delSub.run(client.id, topic);
        this.forget(client.id, topic);
      }
    })();
  }

  async subscriptionsByClient(client: Client): Promise<Subscription[]> {
    const stored = this.subscriptions.get(client.id);
    return stored ? [...stored].map(([topic, record]) => ({ topic, ...record })) : [];
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    let subsCount = 0;
    for (const index of [this.exact, this.wildcard]) for (const byClient of index.values()) subsCount += byClient.size;
    return { subsCount, clientsCount: this.subscriptions.size };
  }

  /** QoS > 0 subscriptions whose filter matches `topic` (wildcard filters first, as aedes' in-memory store answers). */
  async subscriptionsByTopic(topic: string): Promise<MatchedSubscription[]> {
    const out: MatchedSubscription[] = [];
    for (const [filter, byClient] of this.wildcard)
      if (topicMatches(filter, topic)) for (const sub of byClient.values()) out.push({ ...sub });
    for (const sub of this.exact.get(topic)?.values() ?? []) out.push({ ...sub });
    return out;
  }

  async cleanSubscriptions(client: Client): Promise<void> {
    const stored = this.subscriptions.get(client.id);
    if (!stored) return;
    this.sql.delSubs.run(client.id);
    for (const topic of [...stored.keys()]) this.forget(client.id, topic);
  }

  getClientList(topic: string): Readable {
    const ids: string[] = [];
    for (const [clientId, stored] of this.subscriptions) if (stored.has(topic)) ids.push(clientId);
    return Readable.from(ids);
  }

  // ── outgoing (QoS 1/2 to clients) ──────────────────────────────────────────────────────────────────────────────

  async outgoingEnqueue(sub: { clientId: string }, packet: Packet): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: Packet): Promise<void> {
    if (!subs || subs.length === 0) return;
    const queued = queuedPacket(packet);
    const blob = pack(queued);
    this.db.transaction(() => {
      for (const sub of subs)
        this.sql.enqueue.run(
          sub.clientId,
          (queued.brokerId as string | undefined) ?? null,
          (queued.brokerCounter as number | undefined) ?? null,
          queued.messageId ?? null,
          blob,
        );
    })();
  }

  /** Records the messageId given to a queued packet (or replaces it, e.g. by its PUBREL). */
  async outgoingUpdate(client: Client, packet: Packet): Promise<void> {
    const brokerId = (packet.brokerId as string | undefined) ?? null;
    const counter = (packet.brokerCounter as number | undefined) ?? null;
    const same = this.sql.byCounter.get(client.id, brokerId, counter) as { id: number; packet: Buffer } | undefined;
    if (same) {
      const stored = unpack<Packet>(same.packet);
      stored.messageId = packet.messageId;
      this.sql.setOutgoing.run(brokerId, counter, packet.messageId ?? null, pack(stored), same.id);
      return;
    }
    const replaced = this.sql.byMessageIdOtherBroker.get(client.id, packet.messageId ?? null, brokerId) as
      | { id: number }
      | undefined;
    if (!replaced) {
      // aedes delivers to a live subscription that its enqueue step did not see yet (a lock subscribing while the
      // bridge publishes to it). aedes' own persistence answers "no such packet", and aedes then drops the
      // client's connection. The packet is on its way to the client: keep it like any queued one, so its PUBACK
      // clears it and a reconnect re-sends it.
      const queued = queuedPacket(packet);
      queued.messageId = packet.messageId;
      this.sql.enqueue.run(client.id, brokerId, counter, packet.messageId ?? null, pack(queued));
      return;
    }
    this.sql.setOutgoing.run(brokerId, counter, packet.messageId ?? null, pack({ ...packet }), replaced.id);
  }

  async outgoingClearMessageId(client: Client, packet: Packet): Promise<Packet | undefined> {
    const messageId = packet?.messageId;
    if (messageId === undefined) return undefined;
    const row = this.sql.byMessageId.get(client.id, messageId) as { id: number; packet: Buffer } | undefined;
    if (!row) return undefined;
    this.sql.delOutgoing.run(row.id);
    return unpack<Packet>(row.packet);
  }

  outgoingStream(client: Client): Readable {
    const blobs = this.sql.outgoingOf.all(client.id) as Buffer[];
    return Readable.from(blobs.map((b) => unpack<Packet>(b)));
  }

  // ── incoming (QoS 2 from clients) ──────────────────────────────────────────────────────────────────────────────

  async incomingStorePacket(client: Client, packet: Packet): Promise<void> {
    const stored = queuedPacket(packet);
    stored.messageId = packet.messageId;
    this.sql.putIncoming.run(client.id, packet.messageId, pack(stored));
  }

  async incomingGetPacket(client: Client, packet: Packet): Promise<Packet> {
    const blob = this.sql.getIncoming.get(client.id, packet.messageId) as Buffer | undefined;
    if (!blob) throw new Error("no such packet");
    return unpack<Packet>(blob);
  }

  async incomingDelPacket(client: Client, packet: Packet): Promise<void> {
    if (this.sql.delIncoming.run(client.id, packet.messageId).changes === 0) throw new Error("no such packet");
  }

  async cleanIncoming(client: Client): Promise<void> {
    this.sql.cleanIncoming.run(client.id);
  }

  // ── wills ───────────────────────────────────────────────────────────────────────────────────────────────────────

  async putWill(client: Client, packet: Packet): Promise<void> {
    packet.brokerId = this.broker?.id;
    packet.clientId = client.id;
    this.sql.putWill.run(client.id, (packet.brokerId as string | undefined) ?? null, pack({ ...packet }));
  }

  async getWill(client: Client): Promise<Packet | undefined> {
    const blob = this.sql.getWill.get(client.id) as Buffer | undefined;
    return blob ? unpack<Packet>(blob) : undefined;
  }

  async delWill(client: Client): Promise<Packet | undefined> {
    const will = await this.getWill(client);
    try {
      this.sql.delWill.run(client.id);
    } catch {
      // Disk full or I/O error. aedes calls this after publishing a will, in places where a rejection goes unheard
      // and kills the process; a will left behind is at worst published once more (a lock's "offline" again).
    }
    return will;
  }

  /** Wills left by brokers not in `brokers` (a crashed earlier run of this bridge). */
  streamWill(brokers: Record<string, unknown> = {}): Readable {
    const rows = this.sql.wills.all() as Array<{ brokerId: string | null; packet: Buffer }>;
    return Readable.from(rows.filter((r) => !r.brokerId || !brokers[r.brokerId]).map((r) => unpack<Packet>(r.packet)));
  }

  async destroy(): Promise<void> {
    if (this.destroyed) throw new Error("destroyed called twice!");
    this.destroyed = true;
    this.db.close();
  }
}
