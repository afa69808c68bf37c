import { createPublicKey, verify as nodeVerify } from "node:crypto";
import * as noble from "@noble/ed25519";
import type { Ed25519BackendName } from "../src/crypto/ed25519.js";
import { median, opsPerSecond } from "./measure.js";

/** The baseline: a bare Ed25519 verify of `signed` on the backend's own library, the key imported once. */
export function rawVerify(
  backendName: Ed25519BackendName,
  signed: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): () => void {
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), publicKey]);
  const keyObject = createPublicKey({ key: spki, format: "der", type: "spki" });
  return backendName === "node"
    ? () => {
        if (!nodeVerify(null, signed, keyObject, signature)) throw new Error("raw verify failed");
      }
    : () => {
        if (!noble.verify(signature, signed, publicKey, { zip215: false })) throw new Error("raw verify failed");
      };
}

export interface AlternatingResult {
  perSecond: number;
  rawPerSecond: number;
  ratio: number;
}

/**
 * Alternating rounds of the raw baseline and the measured operation in one process, as benchVerify does; the figure
 * is the median ratio, so machine noise hits both sides.
 */
export function alternate(raw: () => void, full: () => void, rounds: number, ms: number): AlternatingResult {
  opsPerSecond(raw, ms / 2);
  opsPerSecond(full, ms / 2);
  const ratios: number[] = [];
  const fulls: number[] = [];
  const raws: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = opsPerSecond(raw, ms);
    const b = opsPerSecond(full, ms);
    raws.push(a);
    fulls.push(b);
    ratios.push(b / a);
  }
  return { perSecond: median(fulls), rawPerSecond: median(raws), ratio: median(ratios) };
}
