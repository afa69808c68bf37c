import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SqliteSql } from "../src/store/sqlite/sql.js";

/** SqliteSql builds row objects from raw rows (store/sqlite/sql.ts): they must be the driver's own, value for value. */
describe("SqliteSql rows", () => {
  const db = new Database(":memory:");
  db.exec(`CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, r REAL, b BLOB, j TEXT);
    INSERT INTO t VALUES ('a', 1, 1.5, x'0102', '{"x":1}'), ('b', NULL, NULL, NULL, NULL);`);
  const sql = new SqliteSql(db);
  const driver = (text: string, values: unknown[] = []) => db.prepare(text).all(...values);

  it("answers what better-sqlite3 answers, for all and get, however often a statement runs", async () => {
    for (const text of [
      "SELECT * FROM t ORDER BY id",
      "SELECT id, n AS id FROM t ORDER BY id",
      "SELECT id, n + 1 AS m, length(b) AS len FROM t WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
      "SELECT * FROM t WHERE id = 'none'",
    ]) {
      const values = text.includes("?") ? [JSON.stringify(["a", "b", "c"])] : [];
      for (let i = 0; i < 3; i++) {
        expect(await sql.all(text, values)).toEqual(driver(text, values));
        expect(await sql.get(text, values)).toEqual(driver(text, values)[0]);
      }
    }
    const [row] = await sql.all("SELECT id, n AS id FROM t WHERE id = 'a'");
    expect(Object.keys(row)).toEqual(["id"]);
    expect(row.id).toBe(1);
  });

  it("keeps the driver's objects for a column named __proto__, and its error for a statement with no rows", async () => {
    const text = "SELECT id AS __proto__, n FROM t ORDER BY id";
    const rows = await sql.all(text);
    expect(rows).toEqual(driver(text));
    expect(Object.getPrototypeOf(rows[0])).toBe(Object.prototype);
    await expect(sql.all("UPDATE t SET n = n WHERE id = 'x'")).rejects.toThrow(/does not return data/);
  });

  it("reads a statement's names again after a migration widened its rows (SQLite re-prepares it)", async () => {
    const mem = new Database(":memory:");
    mem.exec("CREATE TABLE w (a INTEGER); INSERT INTO w VALUES (1);");
    const wide = new SqliteSql(mem);
    expect(await wide.get("SELECT * FROM w")).toEqual({ a: 1 });
    mem.exec("ALTER TABLE w ADD COLUMN b TEXT DEFAULT 'x'");
    expect(await wide.get("SELECT * FROM w")).toEqual({ a: 1, b: "x" });
    expect(await wide.all("SELECT * FROM w")).toEqual([{ a: 1, b: "x" }]);
  });

  it("answers RETURNING rows as objects from insertRows after the same statement was read through all", async () => {
    const mem = new Database(":memory:");
    mem.exec("CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT)");
    const shared = new SqliteSql(mem);
    const text = "INSERT INTO s (v) VALUES (?) RETURNING id, v";
    expect(await shared.all(text, ["first"])).toEqual([{ id: 1, v: "first" }]);
    expect(await shared.insertRows("s", [["v", "text"]], [["second"]], "RETURNING id, v")).toEqual([
      { id: 2, v: "second" },
    ]);
  });
});
