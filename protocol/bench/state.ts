import { createHash } from "node:crypto";
import { decodeSign1, sigStructure } from "../src/cose/sign1.js";
import { type Ed25519BackendName, getEd25519Backend, keyPairFromSeed } from "../src/crypto/ed25519.js";
import { MAX_STATE_BYTES } from "../src/trust/labels.js";
import { type SignedLockState, signLockState } from "../src/trust/state.js";
import { verifyLockState } from "../src/trust/state-verify.js";
import { alternate, rawVerify } from "./alternate.js";

/**
 * Signed lock state verification (docs/trust.md) at a lock beside the raw Ed25519 verify of the same backend over the
 * same signed bytes: the state is the worst case a lock meets, filled with revocations up to the 3.5 KiB cap, so the
 * row shows what the size cap, envelope, header, key choice and payload parse add to the signature.
 */
export interface StateBenchResult {
  backend: Ed25519BackendName;
  statePerSecond: number;
  rawPerSecond: number;
  ratio: number;
  rounds: number;
  stateBytes: number;
  revocations: number;
}

const bytes = (label: string, n = 32) => new Uint8Array(createHash("sha256").update(label).digest().subarray(0, n));

function stateOf(revocations: number): SignedLockState {
  return {
    lock: "sim-lock-001",
    v: 1_800_000_000_000,
    iat: 1_800_000_000,
    issuers: [0, 1].map((i) => ({
      kid: bytes(`kid ${i}`, 8),
      x: keyPairFromSeed(bytes(`issuer ${i}`)).publicKey,
      notAfter: 1_900_000_000,
    })),
    revoked: Array.from({ length: revocations }, (_, i) => ({ cti: bytes(`cti ${i}`, 16) })),
    ack: 123_456,
    maxStale: 7 * 86_400,
    tz: "Europe/Oslo",
    reportKey: { id: bytes("report key id", 8), x: bytes("report key") },
  };
}

/** The largest state under the cap: as many whole revocations as fit. */
function fullState(secretKey: Uint8Array): { document: Uint8Array; revocations: number } {
  let document = signLockState(stateOf(0), { secretKey });
  let revocations = 0;
  for (;;) {
    try {
      const next = signLockState(stateOf(revocations + 1), { secretKey });
      if (next.length > MAX_STATE_BYTES) break;
      document = next;
      revocations++;
    } catch {
      return { document, revocations };
    }
  }
  return { document, revocations };
}

export function benchStateVerify(
  backendName: Ed25519BackendName,
  options: { rounds?: number; roundMs?: number } = {},
): StateBenchResult {
  const rounds = options.rounds ?? 21;
  const roundMs = options.roundMs ?? 100;
  const backend = getEd25519Backend(backendName);
  const authority = keyPairFromSeed(bytes("authority"));
  const { document, revocations } = fullState(authority.secretKey);
  const verifyOptions = {
    lockId: "sim-lock-001",
    authority: authority.publicKey,
    currentV: 1_799_999_999_999,
    backend,
  };
  const sign1 = decodeSign1(document);
  const signed = sigStructure(sign1.protectedBytes, new Uint8Array(0), sign1.payload);
  const raw = rawVerify(backendName, signed, sign1.signature, authority.publicKey);
  const full = () => {
    if (!verifyLockState(document, verifyOptions).ok) throw new Error("state verify failed");
  };
  const r = alternate(raw, full, rounds, backendName === "node" ? roundMs : roundMs * 2);
  return {
    backend: backendName,
    statePerSecond: r.perSecond,
    rawPerSecond: r.rawPerSecond,
    ratio: r.ratio,
    rounds,
    stateBytes: document.length,
    revocations,
  };
}
