import { EventEmitter } from "node:events";
import { join } from "node:path";
import { decodeSetupCode, fingerprintMatches, ManualClock } from "@latchkey/protocol";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import {
  FlashError,
  FlashFormatError,
  factoryResetLock,
  runLockSimCli,
  type SimLock,
  seededRandom,
  startFleet,
} from "../src/index.js";
import { lockBootsEach } from "./helpers/boots.js";
import { makeAuthority, signState } from "./helpers/cloud.js";
import { T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

/** A lock's identity (docs/trust.md "Lock"): id and claim secret from manufacture, keys from first boot, factory reset. */
const authority = makeAuthority("identity");

describe("lock identity and setup code", () => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  const locks = lockBootsEach(() => clock, tmp);
  const boot = (dataDir: string, lockId = "id-1") => locks.boot(lockId, dataDir);

  async function stop(lock: SimLock): Promise<void> {
    locks.release(lock);
    await lock.stop();
  }

  it("the setup code round-trips: its lock id, and a fingerprint matching the keys the lock made at first boot", async () => {
    const lock = await boot(tmp.make());
    const decoded = decodeSetupCode(lock.setupCode);
    expect(decoded.lockId).toBe("id-1");
    expect(decoded.claimSecret).toHaveLength(16);
    expect(fingerprintMatches(decoded.fingerprint, lock.publicKeys)).toBe(true);
    const other = await boot(tmp.make(), "id-2");
    expect(fingerprintMatches(decoded.fingerprint, other.publicKeys)).toBe(false);
    expect(decodeSetupCode(other.setupCode).claimSecret).not.toEqual(decoded.claimSecret);
  });

  it("keys, claim secret and pin survive a reboot (and a power loss)", async () => {
    const dir = tmp.make();
    const first = await boot(dir);
    const code = first.setupCode;
    const keys = first.publicKeys;
    expect(first.trust.applyState(signState("id-1", T0, { authority, setupCode: code })).ok).toBe(true);
    locks.release(first);
    await first.powerLoss();
    const again = await boot(dir);
    expect(again.setupCode).toBe(code);
    expect(again.publicKeys).toEqual(keys);
    expect(again.trust.authority).toEqual(authority.publicKey);
  });

  it("a factory reset makes new keys and clears the pin and the applied state; the printed claim secret stays", async () => {
    const dir = tmp.make();
    const lock = await boot(dir);
    const code = lock.setupCode;
    const keys = lock.publicKeys;
    expect(lock.trust.applyState(signState("id-1", T0, { authority, setupCode: code })).ok).toBe(true);
    expect(lock.trust.nextReportCounter()).toBe(1);
    await stop(lock);

    const reset = factoryResetLock("id-1", { dataDir: dir, random: seededRandom("reset") });
    const after = await boot(dir);
    expect(after.setupCode).toBe(reset.setupCode);
    expect(after.setupCode).not.toBe(code);
    expect(after.publicKeys.identityKey).not.toEqual(keys.identityKey);
    expect(after.publicKeys.agreementKey).not.toEqual(keys.agreementKey);
    expect(fingerprintMatches(decodeSetupCode(code).fingerprint, after.publicKeys)).toBe(false);
    expect(decodeSetupCode(after.setupCode).claimSecret).toEqual(decodeSetupCode(code).claimSecret);
    expect(after.trust.authority).toBeUndefined();
    expect(after.trust.state).toBeUndefined();
    expect(after.trust.reportCounter).toBe(0);
    // Another lock holder can now pin it, with the same printed code.
    const next = makeAuthority("identity-next");
    const pinned = after.trust.applyState(signState("id-1", T0, { authority: next, setupCode: code }));
    expect(pinned.ok && pinned.pin).toBe("first");
  });

  it("a factory reset of a running lock is refused: the flash is taken", async () => {
    const dir = tmp.make();
    await boot(dir);
    expect(() => factoryResetLock("id-1", { dataDir: dir })).toThrow(FlashError);
  });

  /** What a flash from before format 2 looks like: schema 1, no identity tables (the rest already of today's shape). */
  function makeOld(dir: string): void {
    const db = new Database(join(dir, "flash.db"));
    db.exec("DROP TABLE lock_identity; DROP TABLE lock_trust;");
    db.pragma("user_version = 1");
    db.close();
  }

  it("a flash from before format 2 is refused at boot with a typed error naming the lock and the fix", async () => {
    const dir = tmp.make();
    await stop(await boot(dir));
    makeOld(dir);
    const refused = await boot(dir).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FlashFormatError);
    expect((refused as FlashFormatError).lockId).toBe("id-1");
    expect((refused as Error).message).toContain("lock id-1");
    expect((refused as Error).message).toContain(`latchkey-lock-sim factory-reset --data ${dir} --lock id-1`);
    // The fix it names works, and gives the lock its first claim secret.
    const reset = factoryResetLock("id-1", { dataDir: dir });
    const lock = await boot(dir);
    expect(lock.setupCode).toBe(reset.setupCode);
  });

  /** A flash as the lock-sim of the unsigned sync wrote it: schema 2, a partition of format 2 with sync-era rows. */
  function makeSyncEra(dir: string, claimSecret: Uint8Array): void {
    const db = new Database(join(dir, "flash.db"));
    db.exec(`
      CREATE TABLE lock_state (lock TEXT PRIMARY KEY, next_seq INTEGER NOT NULL, sync_version INTEGER NOT NULL,
        dropped_total INTEGER NOT NULL, clock_set INTEGER NOT NULL, rtc_anchor_ms INTEGER NOT NULL,
        base_anchor_ms INTEGER NOT NULL, rtc_floor_ms INTEGER NOT NULL, battery_charge REAL NOT NULL,
        battery_idle_anchor_ms INTEGER NOT NULL, battery_state TEXT NOT NULL, actuator_state TEXT NOT NULL,
        jam_fault INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE events (lock TEXT NOT NULL, seq INTEGER NOT NULL, id BLOB NOT NULL, ts INTEGER NOT NULL,
        type TEXT NOT NULL, key BLOB, code TEXT, dropped INTEGER NOT NULL DEFAULT 0, v INTEGER,
        PRIMARY KEY (lock, seq)) WITHOUT ROWID;
      CREATE TABLE issuers (lock TEXT NOT NULL, source TEXT NOT NULL, kid BLOB NOT NULL, x BLOB NOT NULL,
        PRIMARY KEY (lock, source, kid)) WITHOUT ROWID;
      CREATE TABLE revoked (lock TEXT NOT NULL, cti BLOB NOT NULL, PRIMARY KEY (lock, cti)) WITHOUT ROWID;
      CREATE TABLE grants (lock TEXT NOT NULL, cti BLOB NOT NULL, sub TEXT NOT NULL, nbf INTEGER NOT NULL,
        exp INTEGER NOT NULL, PRIMARY KEY (lock, cti)) WITHOUT ROWID;
      CREATE TABLE lock_identity (lock TEXT PRIMARY KEY, format INTEGER NOT NULL, claim_secret BLOB NOT NULL,
        identity_secret BLOB NOT NULL, agreement_secret BLOB NOT NULL) WITHOUT ROWID;
      INSERT INTO lock_state VALUES ('id-1', 3, 7, 0, 1, ${T0 * 1000}, ${T0 * 1000}, ${T0 * 1000}, 90, 0, 'ok', 'locked', 0);
      INSERT INTO events VALUES ('id-1', 2, zeroblob(16), ${T0}, 'sync_applied', NULL, NULL, 0, 7);
      INSERT INTO issuers VALUES ('id-1', 'factory', x'01', zeroblob(32));
    `);
    db.prepare("INSERT INTO lock_identity VALUES ('id-1', 2, ?, zeroblob(32), zeroblob(32))").run(claimSecret);
    db.pragma("user_version = 2");
    db.close();
  }

  it("a flash of the sync-era lock-sim (format 2) is upgraded in shape, its lock refused until a factory reset", async () => {
    const dir = tmp.make();
    const claimSecret = new Uint8Array(16).fill(0x5a);
    makeSyncEra(dir, claimSecret);
    const refused = await boot(dir).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FlashFormatError);
    expect((refused as FlashFormatError).found).toBe(2);
    expect((refused as Error).message).toContain("unsigned sync");
    expect((refused as Error).message).toContain(`latchkey-lock-sim factory-reset --data ${dir} --lock id-1`);
    // The file itself is on the signed path's shape: no sync tables or columns left.
    const db = new Database(join(dir, "flash.db"), { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    const stateColumns = (db.pragma("table_info(lock_state)") as { name: string }[]).map((c) => c.name);
    db.close();
    expect(tables).toEqual(["events", "lock_identity", "lock_state", "lock_trust"]);
    expect(stateColumns).not.toContain("sync_version");
    // The fix it names keeps the printed claim secret, drops the sync era's events, and the lock boots.
    factoryResetLock("id-1", { dataDir: dir });
    const lock = await boot(dir);
    expect(decodeSetupCode(lock.setupCode).claimSecret).toEqual(claimSecret);
    expect(lock.unacknowledged).toBe(0);
    expect(lock.trust.state).toBeUndefined();
  });

  it("the CLI refuses an old flash, naming the lock and the fix, and exits non-zero", async () => {
    const dir = tmp.make();
    await stop(await boot(dir, "sim-lock-001"));
    makeOld(dir);
    const err: string[] = [];
    const code = await runLockSimCli(
      ["--count", "1", "--mqtt", "mqtt://127.0.0.1:9", "--data", dir, "--log-level", "silent"],
      { out: () => {}, err: (s) => err.push(s) },
      new EventEmitter(),
    );
    expect(code).toBe(1);
    expect(err.join("\n")).toContain("lock sim-lock-001");
    expect(err.join("\n")).toContain(`factory-reset --data ${dir} --lock sim-lock-001`);
  });
});

describe("latchkey-lock-sim setup-codes and factory-reset", () => {
  const tmp = new TempDirs();
  afterEach(() => tmp.cleanup());

  async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runLockSimCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s) }, new EventEmitter());
    return { code, out, err };
  }

  it("prints each lock's id and setup code; the locks a later run starts on the same data are those locks", async () => {
    const dir = tmp.make();
    const text = await cli(["setup-codes", "--count", "3", "--data", dir]);
    expect(text.code).toBe(0);
    expect(text.out).toHaveLength(3);
    const json = await cli(["setup-codes", "--count", "3", "--data", dir, "--json"]);
    const labels = JSON.parse(json.out.join("")) as { lockId: string; setupCode: string }[];
    expect(labels.map((l) => `${l.lockId} ${l.setupCode}`)).toEqual(text.out);
    expect(labels.map((l) => l.lockId)).toEqual(["sim-lock-001", "sim-lock-002", "sim-lock-003"]);
    // What `latchkey-lock-sim --count 3 --data DIR` starts (startFleet); no broker needed to read the codes.
    const fleet = await startFleet({
      count: 3,
      mqttUrl: "mqtt://127.0.0.1:9",
      dataDir: dir,
      connectRatePerSecond: 100_000,
      lockOptions: { tickIntervalMs: 0, mqtt: { reconnectPeriodMs: 60_000 } },
    });
    try {
      expect(fleet.locks.map((l) => `${l.id} ${l.setupCode}`)).toEqual(text.out);
      for (const label of labels) expect(decodeSetupCode(label.setupCode).lockId).toBe(label.lockId);
    } finally {
      await fleet.stop();
    }
  });

  it("factory-reset prints the lock's new setup code: same claim secret, new fingerprint", async () => {
    const dir = tmp.make();
    const before = (await cli(["setup-codes", "--count", "1", "--data", dir])).out[0]!.split(" ")[1]!;
    const reset = await cli(["factory-reset", "--lock", "sim-lock-001", "--data", dir]);
    expect(reset.code).toBe(0);
    const [id, after] = reset.out[0]!.split(" ");
    expect(id).toBe("sim-lock-001");
    expect(after).not.toBe(before);
    expect(decodeSetupCode(after!).claimSecret).toEqual(decodeSetupCode(before).claimSecret);
    expect((await cli(["setup-codes", "--count", "1", "--data", dir])).out[0]).toBe(`sim-lock-001 ${after}`);
  });

  it("usage errors exit 2 and name the flag", async () => {
    const missing = await cli(["factory-reset", "--data", tmp.make()]);
    expect(missing.code).toBe(2);
    expect(missing.err.join("\n")).toContain("--lock");
    const bad = await cli(["factory-reset", "--lock", "no spaces", "--data", tmp.make()]);
    expect(bad.code).toBe(2);
    expect((await cli(["setup-codes", "--count", "0"])).code).toBe(2);
  });
});
