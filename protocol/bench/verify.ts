import { createPublicKey, verify as nodeVerify } from "node:crypto";
import * as noble from "@noble/ed25519";
import { decodeSign1, sigStructure } from "../src/cose/sign1.js";
import { type Ed25519BackendName, getEd25519Backend, keyPairFromSeed } from "../src/crypto/ed25519.js";
import { signKeyToken } from "../src/token/sign.js";
import { TrustStore } from "../src/token/trust.js";
import { verifyKeyToken } from "../src/token/verify.js";
import { median, opsPerSecond } from "./measure.js";

/**
 * Token verification throughput beside the raw Ed25519 verify of the same backend over the same signed bytes,
 * measured in alternating rounds in one process; the figure is the median ratio, so machine noise hits both sides.
 */
export interface VerifyBenchResult {
  backend: Ed25519BackendName;
  tokenPerSecond: number;
  rawPerSecond: number;
  ratio: number;
  rounds: number;
  tokenBytes: number;
}

export function benchVerify(
  backendName: Ed25519BackendName,
  options: { rounds?: number; roundMs?: number } = {},
): VerifyBenchResult {
  const rounds = options.rounds ?? 21;
  const roundMs = options.roundMs ?? 100;
  const backend = getEd25519Backend(backendName);
  const issuer = keyPairFromSeed(new Uint8Array(32).fill(1));
  const device = keyPairFromSeed(new Uint8Array(32).fill(2));
  const kid = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const now = 1_800_000_000;
  const token = signKeyToken(
    {
      iss: "latchkey",
      sub: "+4790000000",
      aud: "lock-1",
      exp: now + 3600,
      nbf: now - 60,
      iat: now - 60,
      cti: new Uint8Array(16).fill(3),
      cnf: device.publicKey,
    },
    { kid, secretKey: issuer.secretKey },
  );
  const trust = new TrustStore([{ kid, publicKey: issuer.publicKey }]);
  const revoked = new Set<string>(["ff".repeat(16)]);
  const options2 = { trust, lockId: "lock-1", now, revoked, backend };

  // The raw baseline verifies the very bytes the token's signature covers, with the key already imported.
  const sign1 = decodeSign1(token);
  const signed = sigStructure(sign1.protectedBytes, new Uint8Array(0), sign1.payload);
  const signature = sign1.signature;
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), issuer.publicKey]);
  const keyObject = createPublicKey({ key: spki, format: "der", type: "spki" });
  const raw =
    backendName === "node"
      ? () => {
          if (!nodeVerify(null, signed, keyObject, signature)) throw new Error("raw verify failed");
        }
      : () => {
          if (!noble.verify(signature, signed, issuer.publicKey, { zip215: false }))
            throw new Error("raw verify failed");
        };
  const full = () => {
    if (!verifyKeyToken(token, options2).ok) throw new Error("token verify failed");
  };
  const ms = backendName === "node" ? roundMs : roundMs * 2;
  opsPerSecond(raw, ms / 2);
  opsPerSecond(full, ms / 2);
  const ratios: number[] = [];
  const tokens: number[] = [];
  const raws: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = opsPerSecond(raw, ms);
    const b = opsPerSecond(full, ms);
    raws.push(a);
    tokens.push(b);
    ratios.push(b / a);
  }
  return {
    backend: backendName,
    tokenPerSecond: median(tokens),
    rawPerSecond: median(raws),
    ratio: median(ratios),
    rounds,
    tokenBytes: token.length,
  };
}
