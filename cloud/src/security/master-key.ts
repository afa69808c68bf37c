import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RandomSource } from "./ids.js";

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
  writeFileSync(file, `${Buffer.from(key).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return key;
}
