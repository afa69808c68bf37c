import { statSync } from "node:fs";
import { join } from "node:path";
import { ManualClock } from "@latchkey/protocol";
import { tempDirsEach } from "@latchkey/protocol/testing/temp-dirs";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { IdGenerator } from "../src/security/ids.js";
import { loadMasterKey } from "../src/security/master-key.js";
import { Sealer } from "../src/security/secrets.js";
import { MIGRATIONS } from "../src/store/sqlite/migrations.js";
import { DATABASE_FILE, SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { seededRandom } from "./helpers.js";
import { CLAIMS_AT_VERSION_9, expectClaimsMigratedFromVersion9 } from "./schema-v9.js";
import { insertLockHolder } from "./store-fixtures.js";

const tempDir = tempDirsEach("latchkey-cloud-store-");

describe("SQLite store", () => {
  it("migrates to the latest version, in WAL mode, and reopening changes nothing", async () => {
    const dir = tempDir();
    await new SqliteStore(dir).close();
    await new SqliteStore(dir).close();
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("commits at synchronous FULL: what the cloud answered survives a power loss (docs/reports.md Durability)", async () => {
    const store = new SqliteStore(tempDir());
    // The pragma is the connection's own: read on the store's connection, not on another one.
    const db = (store as unknown as { db: Database.Database }).db;
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    await store.close();
  });

  it("upgrades a database of an older version in place, keeping its rows", async () => {
    const dir = tempDir();
    const old = new Database(join(dir, DATABASE_FILE));
    old.exec(MIGRATIONS[0]!);
    old.pragma("user_version = 1");
    old.prepare("INSERT INTO integrators (id, name, created_at) VALUES ('int_old', 'Old', 1)").run();
    old.close();
    const store = new SqliteStore(dir);
    expect((await store.transaction((tx) => tx.integrators.get("int_old")))?.name).toBe("Old");
    expect(await store.transaction((tx) => tx.meta.insertIfAbsent("x", "1"))).toBe(true);
    expect(await store.transaction((tx) => tx.meta.insertIfAbsent("x", "2"))).toBe(false);
    expect(await store.transaction((tx) => tx.meta.get("x"))).toBe("1");
    await store.close();
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    db.close();
  });

  it("migration 10: one claim per holder and lock id; a claim whose lock reported its authority is confirmed", async () => {
    const dir = tempDir();
    const old = new Database(join(dir, DATABASE_FILE));
    for (const migration of MIGRATIONS.slice(0, 9)) old.exec(migration);
    old.pragma("user_version = 9");
    old.exec(CLAIMS_AT_VERSION_9);
    old.close();
    const store = new SqliteStore(dir);
    await expectClaimsMigratedFromVersion9(store);
    await store.close();
  });

  it("lock presence migration (16 in docs/webhooks.md): existing locks' presence counts as announced, nothing is news", async () => {
    const dir = tempDir();
    const old = new Database(join(dir, DATABASE_FILE));
    for (const migration of MIGRATIONS.slice(0, -1)) old.exec(migration);
    old.pragma(`user_version = ${MIGRATIONS.length - 1}`);
    old.exec(`INSERT INTO integrators (id, name, created_at) VALUES ('int_a', 'A', 1);
      INSERT INTO lock_holders (id, integrator_id, name, created_at) VALUES ('lh_a', 'int_a', 'A', 1);
      INSERT INTO vendor_connections (id, lock_holder_id, vendor, state, created_at, updated_at)
        VALUES ('vc_a', 'lh_a', 'sim', 'connected', 1, 1);`);
    const insert = old.prepare(
      `INSERT INTO locks (id, lock_holder_id, vendor_connection_id, vendor, name, created_at, online, presence_ts_s)
         VALUES (?, 'lh_a', 'vc_a', 'sim', ?, 1, ?, 5)`,
    );
    insert.run("lk-on", "On", 1);
    insert.run("lk-off", "Off", 0);
    old.close();
    const store = new SqliteStore(dir);
    const locks = await store.transaction((tx) => tx.locks.getMany(["lk-on", "lk-off"]));
    const byId = Object.fromEntries(locks.map((l) => [l.id, l]));
    const presence = (id: string) => {
      const l = byId[id]!;
      return [l.online, l.presenceAnnounced, l.presenceAnnouncedAt, l.presenceDueAt, l.bridgeSilentSince];
    };
    expect(presence("lk-on")).toEqual([true, true, null, null, null]);
    expect(presence("lk-off")).toEqual([false, false, null, null, null]);
    await store.close();
  });

  it("refuses a database newer than it knows", async () => {
    const dir = tempDir();
    await new SqliteStore(dir).close();
    const db = new Database(join(dir, DATABASE_FILE));
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expect(() => new SqliteStore(dir)).toThrow(/newer than this cloud knows/);
  });

  it("a failed transaction leaves nothing half-written", async () => {
    const store = new SqliteStore(tempDir());
    const now = 1;
    await expect(
      store.transaction(async (tx) => {
        await insertLockHolder(tx, "a", now);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await store.transaction((tx) => tx.integrators.get("int_a"))).toBeUndefined();
    expect(await store.transaction((tx) => tx.lockHolders.get("lh_a"))).toBeUndefined();
    // and the store still works
    await store.transaction((tx) =>
      tx.integrators.insert(
        { id: "int_b", name: "B", createdAt: now },
        {
          clientId: "cl_b",
          integratorId: "int_b",
          secretHash: "h",
          previousSecretHash: null,
          previousSecretExpiresAt: null,
          createdAt: now,
        },
      ),
    );
    expect((await store.transaction((tx) => tx.integrators.get("int_b")))?.name).toBe("B");
    await store.close();
  });

  it("transactions run one at a time even when their callbacks await", async () => {
    const store = new SqliteStore(tempDir());
    const order: string[] = [];
    await Promise.all(
      ["x", "y", "z"].map((name) =>
        store.transaction(async (tx) => {
          order.push(`${name}:start`);
          await tx.integrators.get(name);
          await new Promise((r) => setImmediate(r));
          order.push(`${name}:end`);
        }),
      ),
    );
    expect(order).toEqual(["x:start", "x:end", "y:start", "y:end", "z:start", "z:end"]);
    await store.close();
  });
});

describe("secrets at rest", () => {
  it("seals with AES-256-GCM bound to the record; tampering or another record fails", () => {
    const sealer = new Sealer(new Uint8Array(32).fill(1), seededRandom("seal"));
    const sealed = sealer.seal(new Uint8Array([1, 2, 3]), "issuer-key:aa");
    expect([...sealer.open(sealed, "issuer-key:aa")]).toEqual([1, 2, 3]);
    expect(() => sealer.open(sealed, "issuer-key:bb")).toThrow();
    const parts = sealed.split(".");
    parts[2] = Buffer.from("zzz").toString("base64url");
    expect(() => sealer.open(parts.join("."), "issuer-key:aa")).toThrow();
    expect(() => new Sealer(new Uint8Array(31), seededRandom("x")).seal(new Uint8Array(1), "c")).toThrow();
  });

  it("creates the master key file with mode 0600, reuses it, and takes LATCHKEY_MASTER_KEY when set", () => {
    const dir = tempDir();
    const key = loadMasterKey(dir, seededRandom("mk"));
    expect(statSync(join(dir, "master.key")).mode & 0o777).toBe(0o600);
    expect(Buffer.from(loadMasterKey(dir, seededRandom("other"))).equals(Buffer.from(key))).toBe(true);
    const fromEnv = loadMasterKey(dir, seededRandom("mk"), "ab".repeat(32));
    expect(Buffer.from(fromEnv).toString("hex")).toBe("ab".repeat(32));
    expect(() => loadMasterKey(dir, seededRandom("mk"), "short")).toThrow(/LATCHKEY_MASTER_KEY/);
  });
});

describe("ids", () => {
  it("sort by creation, also within one millisecond and when the clock steps back", () => {
    const clock = new ManualClock(1_800_000_000_000);
    const ids = new IdGenerator(clock, seededRandom("ids"));
    const made: string[] = [];
    for (let i = 0; i < 50; i++) made.push(ids.next("key"));
    clock.advance(1);
    made.push(ids.next("key"));
    clock.advance(-10);
    made.push(ids.next("key"));
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
    for (const id of made) expect(id).toMatch(/^key_[0-9a-hjkmnp-tv-z]{26}$/);
  });
});
