import { fromHex, toHex, x25519KeyPairFromSeed } from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import type { Tx } from "../store/store.js";

/**
 * The cloud's one X25519 report key (docs/design.md section 7 "Reports from the lock", docs/reports.md): every lock's
 * signed state names it, and locks MAC their reports under a key agreed with it. Created at first use, its private
 * half sealed under the master key in the database's meta table, so every cloud process on one database shares it.
 */
const META_NAME = "report-key";
const sealContext = (idHex: string) => `report-key:${idHex}`;

export interface ReportKey {
  /** 8 random bytes, hex: the id the state names (`reportKey.id`). */
  id: string;
  /** X25519 public key, hex. */
  x: string;
  sealed: string;
}

export async function reportKey(tx: Tx, ctx: CloudContext): Promise<ReportKey> {
  const stored = await tx.meta.get(META_NAME);
  if (stored !== undefined) return JSON.parse(stored) as ReportKey;
  const id = toHex(ctx.random(8));
  const { privateKey, publicKey } = x25519KeyPairFromSeed(ctx.random(32));
  const fresh: ReportKey = { id, x: toHex(publicKey), sealed: ctx.sealer.seal(privateKey, sealContext(id)) };
  privateKey.fill(0);
  if (await tx.meta.insertIfAbsent(META_NAME, JSON.stringify(fresh))) return fresh;
  return JSON.parse((await tx.meta.get(META_NAME))!) as ReportKey;
}

/** The report key's private half, for the ingest's MAC checks; the caller zeroes it after use. */
export function reportKeySecret(ctx: CloudContext, key: ReportKey): Uint8Array {
  return ctx.sealer.open(key.sealed, sealContext(key.id));
}

export const reportKeyForState = (key: ReportKey) => ({ id: fromHex(key.id), x: fromHex(key.x) });
