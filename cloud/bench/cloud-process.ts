import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fromHex, toHex } from "@latchkey/protocol";
import { startCloud } from "../src/cloud.js";
import { withSearchPath } from "../src/store/postgres/url.js";
import { startBenchSite } from "./site.js";

/**
 * One cloud process of the two-clouds bench (bench/two-clouds.ts): `node cloud-process.js site|peer` with
 * BENCH_DATABASE_URL, BENCH_SCHEMA and BENCH_MASTER_KEY (hex) in its environment. `site` sets the bench site up
 * (integrator, lock holder, bridge, claimed locks) and prints it as one JSON line, secrets included (the bench's own
 * throwaway site, on a pipe to its parent); `peer` is a second cloud on the same schema and prints its URL. Both
 * serve until SIGTERM.
 */
const role = process.argv[2];
const databaseUrl = process.env.BENCH_DATABASE_URL;
const schema = process.env.BENCH_SCHEMA;
const masterKeyHex = process.env.BENCH_MASTER_KEY;
if ((role !== "site" && role !== "peer") || !databaseUrl || !schema || !masterKeyHex) {
  process.stderr.write("usage: BENCH_DATABASE_URL=… BENCH_SCHEMA=… BENCH_MASTER_KEY=… cloud-process.js site|peer\n");
  process.exit(2);
}
const masterKey = fromHex(masterKeyHex);
let close: () => Promise<void>;
if (role === "site") {
  const site = await startBenchSite({ databaseUrl, schema, masterKey });
  close = () => site.close();
  process.stdout.write(
    `${JSON.stringify({
      url: site.url,
      token: site.token,
      bridgeToken: site.bridgeToken,
      credentials: site.credentials,
      lockHolderId: site.lockHolderId,
      vendorConnectionId: site.vendorConnectionId,
      locks: site.locks.map((l) => ({
        lockId: l.lockId,
        claimSecret: toHex(l.claimSecret),
        xPrivate: toHex(l.xPrivate),
        identityKey: toHex(l.keys.identityKey),
        agreementKey: toHex(l.keys.agreementKey),
        wireKeys: l.wireKeys,
      })),
    })}\n`,
  );
} else {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-peer-"));
  const cloud = await startCloud({
    dataDir: dir,
    port: 0,
    logLevel: "warn",
    logStream: new Writable({ write: (_c, _e, done) => done() }),
    masterKey,
    databaseUrl: withSearchPath(databaseUrl, schema),
  });
  close = async () => {
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  };
  process.stdout.write(`${JSON.stringify({ url: cloud.url })}\n`);
}
process.once("SIGTERM", () => {
  close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
