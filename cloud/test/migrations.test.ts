import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PG_MIGRATIONS } from "../src/store/postgres/migrations.js";
import { MIGRATIONS } from "../src/store/sqlite/migrations.js";

/**
 * Deployments have applied every released migration, so its effect must never change. The texts are pinned: SQLite's
 * byte for byte (it keeps each CREATE statement's text in sqlite_master), PostgreSQL's up to whitespace (it keeps none).
 * A new migration appends a hash here; a changed hash means a released migration was edited.
 */
const SQLITE = [
  "60ed4c4ebb14b188",
  "8078430243b9c329",
  "87d363717c922046",
  "f63d8dbb1bf78880",
  "b39582336cc196a2",
  "66081b3317ee3315",
  "64ceb09a95054582",
  "0128f1d254baff0a",
  "2f2c8233fd65d3eb",
  "d771da15f45d94d5",
  "76d560eeb5cbac46",
  "ec563c75c4f71561",
  "65df85a661fd82ee",
  "3397f34cd27b9b18",
  "08cac4725abedb03",
  "416b64601bee6164",
];
const POSTGRES = [
  "ffbc0d3a968ec6e9",
  "a71337a3bb29f255",
  "45df37f094333e9a",
  "c5b684954b1a97cf",
  "d5aed0371a42cf57",
  "68e828de0d97c797",
  "470c842608830875",
  "f5f1df7a169c4c0b",
  "d12d40d40814a62b",
  "1f50aeec574d08c0",
  "ffb844ffd78c4b3a",
  "4ca8e48c9274e88f",
  "fa6cdb481195809a",
  "6fbb2f1b45e0bf67",
  "08cac4725abedb03",
  "22a01d86eeed8729",
];

const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

describe("released migrations", () => {
  it("are unchanged on SQLite, byte for byte", () => {
    expect(MIGRATIONS.map(hash)).toEqual(SQLITE);
  });

  it("are unchanged on PostgreSQL, up to whitespace", () => {
    expect(PG_MIGRATIONS.map((m) => hash(m.replace(/\s+/g, " ").trim()))).toEqual(POSTGRES);
  });
});
