import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Migration, openSqlite, SchemaTooNewError } from "../src/sqlite.js";

describe("openSqlite", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-runtime-sqlite-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const migrations: Migration[] = ["CREATE TABLE a (x INTEGER)", (db) => db.exec("ALTER TABLE a ADD COLUMN y INTEGER")];
  const open = (path: string, list: readonly Migration[] = migrations) =>
    openSqlite(path, { pragmas: ["journal_mode = WAL", "foreign_keys = ON"], migrations: list, owner: "this test" });

  it("sets the pragmas in order and runs every migration, recording the version", () => {
    const db = open(join(dir, "a.db"));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.pragma("user_version", { simple: true })).toBe(2);
    db.prepare("INSERT INTO a (x, y) VALUES (1, 2)").run();
    db.close();
  });

  it("runs only the migrations a file has not had", () => {
    const path = join(dir, "a.db");
    open(path, migrations.slice(0, 1)).close();
    const db = open(path, [...migrations, "CREATE TABLE b (z TEXT)"]);
    expect(db.pragma("user_version", { simple: true })).toBe(3);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all()).toEqual([
      "a",
      "b",
    ]);
    db.close();
  });

  it("rolls a failed migration back whole and leaves the version where it was", () => {
    const path = join(dir, "a.db");
    expect(() => open(path, [...migrations, "CREATE TABLE c (z TEXT); INSERT INTO missing VALUES (1)"])).toThrow(
      /no such table: missing/,
    );
    const db = new Database(path);
    expect(db.pragma("user_version", { simple: true })).toBe(2);
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'c'").pluck().get()).toBe(0);
    db.close();
  });

  it("refuses a file newer than the code with a typed error naming both versions", () => {
    const path = join(dir, "a.db");
    open(path, [...migrations, "SELECT 1"]).close();
    let error: unknown;
    try {
      open(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SchemaTooNewError);
    expect(error).toMatchObject({ path, found: 3, known: 2 });
    expect((error as Error).message).toBe(`${path} has schema version 3, newer than this test (2)`);
  });

  it("creates an absent file with the mode asked for, before SQLite would create it wider", () => {
    const path = join(dir, "private.db");
    const previous = process.umask(0o022);
    try {
      openSqlite(path, { pragmas: ["journal_mode = WAL"], migrations, owner: "this test", fileMode: 0o600 }).close();
    } finally {
      process.umask(previous);
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
