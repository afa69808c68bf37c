import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keyPairFromSeed, signKeyToken } from "@latchkey/protocol";
import Database from "better-sqlite3";

export interface RawBaselineResult {
  keys: number;
  seconds: number;
  keysPerSecond: number;
}

/**
 * The floor under batch create: sign N key tokens with protocol `signKeyToken` and insert N rows into a SQLite table
 * in one transaction, with the store's own pragmas (WAL, synchronous NORMAL). No HTTP, no framework, no validation.
 */
export function benchRawBaseline(options: { keys?: number } = {}): RawBaselineResult {
  const keys = options.keys ?? 10_000;
  const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-raw-"));
  try {
    const db = new Database(join(dir, "raw.sqlite"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec(
      `CREATE TABLE keys (id TEXT PRIMARY KEY, lock_id TEXT NOT NULL, cti TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
         start_at INTEGER NOT NULL, end_at INTEGER, token BLOB NOT NULL)`,
    );
    const insert = db.prepare(
      "INSERT INTO keys (id, lock_id, cti, user_id, start_at, end_at, token) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const issuer = keyPairFromSeed(new Uint8Array(randomBytes(32)));
    const device = keyPairFromSeed(new Uint8Array(randomBytes(32)));
    const kid = new Uint8Array(randomBytes(8));
    const nowS = Math.floor(Date.now() / 1000);
    const started = process.hrtime.bigint();
    db.transaction(() => {
      for (let i = 0; i < keys; i++) {
        const cti = new Uint8Array(randomBytes(16));
        const sub = `+4790${String(i).padStart(6, "0")}`;
        const aud = `lock-${i % 10}`;
        const token = signKeyToken(
          { iss: "latchkey", sub, aud, exp: nowS + 3600, nbf: nowS, iat: nowS, cti, cnf: device.publicKey },
          { kid, secretKey: issuer.secretKey },
        );
        insert.run(`key_${i}`, aud, Buffer.from(cti).toString("hex"), sub, nowS * 1000, (nowS + 3600) * 1000, token);
      }
    })();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    db.close();
    return { keys, seconds, keysPerSecond: keys / seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
