import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";

/**
 * The floor of the events row (issue 17 item 1): a bare aedes, as the baseline's, plus the least a durable bridge must
 * do per event: one row per message inserted in a group commit (every message of one event-loop turn in one
 * transaction, WAL, synchronous=FULL: one fsync per group), and the PUBACK held until that commit. No logins, no
 * peek, no upload. Prints `{"port": n}` once listening; SIGTERM closes it and removes its database.
 */
const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-floor-"));
const db = new Database(join(dir, "floor.db"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.exec(
  "CREATE TABLE outbox (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, report BLOB NOT NULL, created_at INTEGER NOT NULL)",
);
const insert = db.prepare("INSERT INTO outbox (topic, report, created_at) VALUES (?, ?, ?)");
const commit = db.transaction((rows: { topic: string; payload: Buffer }[]) => {
  const now = Date.now();
  for (const r of rows) insert.run(r.topic, r.payload, now);
});
let queue: { topic: string; payload: Buffer; done: (e: Error | null) => void }[] = [];
let scheduled = false;
function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  try {
    commit(batch);
    for (const p of batch) p.done(null);
  } catch (e) {
    for (const p of batch) p.done(e as Error);
  }
}

const { Aedes } = await import("aedes");
const broker = await Aedes.createBroker({
  authorizePublish: (_client, packet, done) => {
    queue.push({ topic: packet.topic, payload: packet.payload as Buffer, done });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  },
});
const server = createServer({ noDelay: true }, broker.handle);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.once("SIGTERM", () => {
  server.close();
  broker.close(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
