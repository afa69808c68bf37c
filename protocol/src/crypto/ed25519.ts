import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import * as noble from "@noble/ed25519";

/**
 * Ed25519 behind one small interface, two backends that must agree on every vector:
 * - `node`: node:crypto (OpenSSL), the fastest in Node and the default;
 * - `noble`: @noble/ed25519 in strict RFC 8032 mode (`zip215: false`), pure JavaScript and portable.
 * Keys are raw: a 32-byte secret (the RFC 8032 seed) and a 32-byte public key. `verify` never throws:
 * anything wrong with a signature or key is a plain `false`.
 */
export interface Ed25519Backend {
  readonly name: "node" | "noble";
  getPublicKey(secretKey: Uint8Array): Uint8Array;
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array | VerifyKey): boolean;
}

// Set by VerifyKey's static block (the class's private fields are reachable only inside it).
let heldBytes: (key: VerifyKey) => Uint8Array;
let nodeKeyOf: (key: VerifyKey) => KeyObject;

/**
 * A public key held for repeated verification (an issuer key in a trust store): it owns a private copy of the bytes
 * and keeps what a backend derived from them (node:crypto's imported KeyObject), so the hot path imports nothing.
 */
export class VerifyKey {
  readonly #bytes: Uint8Array;
  #nodeKey: KeyObject | undefined;

  constructor(publicKey: Uint8Array) {
    checkLength(publicKey, ED25519_KEY_BYTES, "public key");
    this.#bytes = new Uint8Array(publicKey);
  }

  /** A copy: the held bytes cannot be changed from outside. */
  get bytes(): Uint8Array {
    return new Uint8Array(this.#bytes);
  }

  // The backends below read the held bytes without a copy; module functions, not methods, keep that out of the API.
  static {
    heldBytes = (key) => key.#bytes;
    nodeKeyOf = (key) => {
      key.#nodeKey ??= importPublicKey(key.#bytes);
      return key.#nodeKey;
    };
  }
}

export const ED25519_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

// noble's synchronous API needs a SHA-512; node:crypto's is the one Node has anyway.
noble.hashes.sha512 = (message: Uint8Array) => new Uint8Array(createHash("sha512").update(message).digest());

// DER prefixes that wrap a raw Ed25519 key as PKCS#8 / SPKI (RFC 8410), so OpenSSL can import it.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/**
 * Importing a key into OpenSSL costs more than a verification, so imported keys are kept. The cache is
 * bounded: a lock sees a handful of issuer keys, the cloud a few per lock holder; device keys churn.
 */
// Looked up by content, never by object identity: a caller may reuse one buffer for different keys.
class KeyCache<T> {
  private readonly map = new Map<string, T>();
  constructor(
    private readonly limit: number,
    private readonly load: (raw: Uint8Array) => T,
  ) {}
  get(raw: Uint8Array): T {
    const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1");
    let value = this.map.get(id);
    if (value === undefined) {
      if (this.map.size >= this.limit) this.map.clear();
      value = this.load(raw);
      this.map.set(id, value);
    }
    return value;
  }
}

function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new TypeError(`${what} must be ${length} bytes`);
  }
}

function importPublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

const publicKeys = new KeyCache<KeyObject>(4096, importPublicKey);
const privateKeys = new KeyCache<KeyObject>(256, (raw) =>
  createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" }),
);

export const nodeEd25519: Ed25519Backend = {
  name: "node",
  getPublicKey(secretKey) {
    checkLength(secretKey, ED25519_KEY_BYTES, "secret key");
    const der = createPublicKey(privateKeys.get(secretKey)).export({ format: "der", type: "spki" });
    return new Uint8Array(der.subarray(SPKI_PREFIX.length));
  },
  sign(message, secretKey) {
    checkLength(secretKey, ED25519_KEY_BYTES, "secret key");
    return new Uint8Array(sign(null, message, privateKeys.get(secretKey)));
  },
  verify(signature, message, publicKey) {
    if (signature.length !== ED25519_SIGNATURE_BYTES) return false;
    try {
      if (publicKey instanceof VerifyKey) return verify(null, message, nodeKeyOf(publicKey), signature);
      if (publicKey.length !== ED25519_KEY_BYTES) return false;
      return verify(null, message, publicKeys.get(publicKey), signature);
    } catch {
      return false;
    }
  },
};

export const nobleEd25519: Ed25519Backend = {
  name: "noble",
  getPublicKey(secretKey) {
    checkLength(secretKey, ED25519_KEY_BYTES, "secret key");
    return noble.getPublicKey(secretKey);
  },
  sign(message, secretKey) {
    checkLength(secretKey, ED25519_KEY_BYTES, "secret key");
    return noble.sign(message, secretKey);
  },
  verify(signature, message, publicKey) {
    const raw = publicKey instanceof VerifyKey ? heldBytes(publicKey) : publicKey;
    if (signature.length !== ED25519_SIGNATURE_BYTES || raw.length !== ED25519_KEY_BYTES) return false;
    try {
      return noble.verify(signature, message, raw, { zip215: false });
    } catch {
      return false;
    }
  },
};

export const ed25519Backends = { node: nodeEd25519, noble: nobleEd25519 } as const;
export type Ed25519BackendName = keyof typeof ed25519Backends;

/** The default: node:crypto, the fastest where it exists. */
export const defaultEd25519: Ed25519Backend = nodeEd25519;

export function getEd25519Backend(name: Ed25519BackendName = "node"): Ed25519Backend {
  return ed25519Backends[name];
}

// Decoding the point takes a square root in BigInt arithmetic (about 0.25 ms, more than a verification), and a lock
// checks the same few phones' keys at every unlock: the verdict, a pure function of the 32 bytes, is kept.
const strongVerdicts = new KeyCache<boolean>(4096, (publicKey) => {
  try {
    const point = noble.Point.fromBytes(publicKey, false);
    return !point.isSmallOrder();
  } catch {
    return false;
  }
});

/**
 * Whether a public key is one a signature can be trusted under: it decodes canonically (y < p, strict RFC 8032)
 * to a point on the curve that is not of small order. A small-order key lets anyone forge signatures that some
 * verifiers accept, so issuer keys and device (`cnf`) keys are checked with this before any use.
 */
export function isStrongPublicKey(publicKey: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_BYTES) return false;
  return strongVerdicts.get(publicKey);
}

/** A new key pair from 32 bytes of caller-supplied randomness (protocol never draws its own). */
export function keyPairFromSeed(seed: Uint8Array, backend: Ed25519Backend = defaultEd25519) {
  checkLength(seed, ED25519_KEY_BYTES, "seed");
  return { secretKey: new Uint8Array(seed), publicKey: backend.getPublicKey(seed) };
}
