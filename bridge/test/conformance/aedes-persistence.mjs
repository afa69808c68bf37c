// aedes-persistence's own conformance suite (abstract.js, node:test) against the bridge's SQLite persistence.
// Run by persistence.test.ts as `node --test` on the built package (dist/).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { SqlitePersistence } from "../../dist/src/broker/sqlite-persistence.js";

const require = createRequire(import.meta.url);
const abstractPersistence = require("aedes-persistence/abstract.js");
const dir = mkdtempSync(join(tmpdir(), "latchkey-aedes-persistence-"));
let n = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

abstractPersistence({
  test,
  persistence: () => new SqlitePersistence(join(dir, `broker-${++n}.db`)),
  testAsync: true,
});
