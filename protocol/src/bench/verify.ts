import { decodeSign1, sigStructure } from "../cose/sign1.js";
import { type Ed25519BackendName, getEd25519Backend, keyPairFromSeed } from "../crypto/ed25519.js";
import { signKeyToken } from "../token/sign.js";
import { TrustStore } from "../token/trust.js";
import { verifyKeyToken } from "../token/verify.js";
import { alternate, rawVerify } from "./measure.js";

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
  const raw = rawVerify(backendName, signed, sign1.signature, issuer.publicKey);
  const full = () => {
    if (!verifyKeyToken(token, options2).ok) throw new Error("token verify failed");
  };
  const r = alternate(raw, full, rounds, backendName === "node" ? roundMs : roundMs * 2);
  return {
    backend: backendName,
    tokenPerSecond: r.perSecond,
    rawPerSecond: r.rawPerSecond,
    ratio: r.ratio,
    rounds,
    tokenBytes: token.length,
  };
}
