import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Store } from "../store/store.js";
import { type RandomSource, systemRandom } from "./ids.js";
import { Sealer } from "./secrets.js";

export const MASTER_KEY_FILE = "master.key";

/**
 * The master key seals issuer private keys and webhook secrets at rest. Taken from LATCHKEY_MASTER_KEY (64 hex
 * characters) when set, else from `<dataDir>/master.key`, created with mode 0600 on first start.
 */
export function loadMasterKey(dataDir: string, random: RandomSource, fromEnv?: string): Uint8Array {
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!/^[0-9a-fA-F]{64}$/.test(fromEnv)) throw new Error("LATCHKEY_MASTER_KEY must be 64 hex characters (32 bytes)");
    return new Uint8Array(Buffer.from(fromEnv, "hex"));
  }
  const file = join(dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) {
    const text = readFileSync(file, "utf8").trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} does not hold a 64-hex-character master key`);
    return new Uint8Array(Buffer.from(text, "hex"));
  }
  const key = random(32);
  // With PostgreSQL nothing else creates the data directory, yet the key file still lives there.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${Buffer.from(key).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return key;
}

const CHECK_NAME = "master-key-check";
const CHECK_CONTEXT = "latchkey-master-key-check";

/**
 * Every cloud process on one database must hold the same master key, or secrets one sealed are garbage to another
 * (a webhook secret that will not open, an issuer key that cannot sign). The first start seals a known value into the
 * database; every later start must open it, or refuses to run with a message saying why.
 */
export async function checkMasterKey(store: Store, masterKey: Uint8Array): Promise<void> {
  const sealer = new Sealer(masterKey, systemRandom);
  const fresh = sealer.seal(new TextEncoder().encode(CHECK_CONTEXT), CHECK_CONTEXT);
  const existing = await store.transaction(async (tx) =>
    (await tx.meta.insertIfAbsent(CHECK_NAME, fresh)) ? undefined : tx.meta.get(CHECK_NAME),
  );
  if (existing === undefined) return;
  try {
    sealer.open(existing, CHECK_CONTEXT);
  } catch {
    throw new Error(
      "the master key (LATCHKEY_MASTER_KEY or <data>/master.key) is not the one this database's secrets were sealed " +
        "with: give every cloud process on a database the same LATCHKEY_MASTER_KEY",
    );
  }
}
