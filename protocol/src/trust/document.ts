import { bytesEqual } from "../bytes.js";
import { encodeCbor } from "../cbor/encode.js";
import { decodeStrict } from "../cbor/strict-decode.js";
import type { CborKey, CborValue } from "../cbor/tag.js";
import {
  Alg,
  decodeSign1,
  HeaderLabel,
  type HeaderMap,
  type Sign1,
  signSign1,
  verifySign1Signature,
} from "../cose/sign1.js";
import { defaultEd25519, type Ed25519Backend } from "../crypto/ed25519.js";
import { ProtocolError, TRUST_ERROR_CODES, type TrustErrorCode } from "../errors.js";
import { AUTHORITY_KEY_BYTES, MAX_SMALL_DOCUMENT_BYTES, MAX_TRUST_DEPTH, TrustHeaderLabel } from "./labels.js";

/**
 * The envelope every trust document shares (docs/trust.md, "Envelope"): a COSE_Sign1, tag 18, EdDSA, protected header
 * `{1: -8, 4: signer public key, 16: typ}` plus our private labels, empty unprotected header. `kid` is the signer's raw
 * 32-byte Ed25519 key: a lock compares it with its pinned authority and names the refusal (`wrong_authority`) without a
 * lookup table, and an unpinned lock learns from it which key the pin tag must vouch for.
 */

/** A refusal inside a verifier; turned into `{ok: false, code, message}` by `settle`, never escapes. */
export class Refusal {
  constructor(
    readonly code: TrustErrorCode,
    readonly message: string,
  ) {}
}

export function refuse(code: TrustErrorCode, message: string): never {
  throw new Refusal(code, message);
}

export type Refused = { ok: false; code: TrustErrorCode; message: string };
export type TrustVerdict<T> = ({ ok: true } & T) | Refused;

const TRUST_CODES = new Set<string>(TRUST_ERROR_CODES);

/** Runs a verifier: whatever the input, the answer is a verdict, never an exception. */
export function settle<T>(verify: () => T): TrustVerdict<T> {
  try {
    return { ok: true, ...verify() };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, code: e.code, message: e.message };
    if (e instanceof ProtocolError && TRUST_CODES.has(e.code)) {
      return { ok: false, code: e.code as TrustErrorCode, message: e.message };
    }
    // Nothing else is expected; if it happens the answer is still no.
    return { ok: false, code: "malformed", message: "document could not be processed" };
  }
}

/** Decoder limits for trust documents: depth beyond the cap is its own code, refused before any signature check. */
const LIMITS = { maxDepth: MAX_TRUST_DEPTH, maxItems: 512, depthCode: "too_deep" } as const;

/** Header labels a trust verifier understands, so a `crit` naming only these is acceptable. */
const UNDERSTOOD = new Set<CborKey>([
  HeaderLabel.alg,
  HeaderLabel.kid,
  HeaderLabel.typ,
  TrustHeaderLabel.pinTag,
  TrustHeaderLabel.handOver,
]);

export interface SignDocumentOptions {
  typ: string;
  payload: Map<number, unknown>;
  /** The signer's 32-byte Ed25519 secret key (an authority key). */
  secretKey: Uint8Array;
  /** Further protected-header parameters (pin tag, hand-over). */
  header?: Map<number, unknown>;
  backend?: Ed25519Backend;
}

export function signDocument(options: SignDocumentOptions): Uint8Array {
  const backend = options.backend ?? defaultEd25519;
  const header = new Map<number, unknown>([
    [HeaderLabel.alg, Alg.EdDSA],
    [HeaderLabel.kid, backend.getPublicKey(options.secretKey)],
    [HeaderLabel.typ, options.typ],
  ]);
  for (const [label, value] of options.header ?? []) header.set(label, value);
  return signSign1({
    protectedHeader: header as HeaderMap,
    payload: encodeCbor(options.payload),
    secretKey: options.secretKey,
    backend,
  });
}

/** A small document (command, time answer, hand-over): its labelled claims, signed by `secretKey`. */
export function signClaims(
  typ: string,
  claims: [number, unknown][],
  secretKey: Uint8Array,
  backend?: Ed25519Backend,
): Uint8Array {
  return signDocument({ typ, payload: new Map(claims), secretKey, backend });
}

/** A trust document whose envelope and header passed; its signature is not checked yet and its payload not read. */
export interface OpenedDocument {
  sign1: Sign1;
  /** The signer's public key, as the protected header names it. */
  signer: Uint8Array;
  header: HeaderMap;
}

/**
 * The checks made before any signature (docs/trust.md, "Verification order"): size cap, well-formed envelope within
 * the depth cap, algorithm, critical headers, this document kind's `typ`, a signer key of the right shape.
 */
export function openDocument(bytes: Uint8Array, typ: string, maxBytes: number): OpenedDocument {
  if (!(bytes instanceof Uint8Array)) refuse("malformed", "document is not a byte array");
  if (bytes.length > maxBytes) refuse("too_large", `document is ${bytes.length} bytes, over the cap of ${maxBytes}`);
  const sign1 = decodeSign1(bytes, { maxBytes, limits: LIMITS });
  if (sign1.cwtTagged) refuse("malformed", "a trust document is not a CWT (tag 61)");
  if (sign1.unprotectedHeader.size > 0) refuse("malformed", "the unprotected header must be empty");
  const header = sign1.protectedHeader;
  const alg = header.get(HeaderLabel.alg);
  if (alg !== Alg.EdDSA && alg !== Alg.Ed25519) refuse("unsupported_alg", `alg ${String(alg)} is not EdDSA`);
  const crit = header.get(HeaderLabel.crit);
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0) refuse("unsupported_alg", "crit must be a non-empty array");
    for (const label of crit) {
      if (!UNDERSTOOD.has(label as CborKey)) refuse("unsupported_alg", `critical header ${String(label)} unknown`);
    }
  }
  const found = header.get(HeaderLabel.typ);
  if (found !== typ) refuse("wrong_type", `typ is ${JSON.stringify(found ?? null)}, not "${typ}"`);
  const signer = header.get(HeaderLabel.kid);
  if (!(signer instanceof Uint8Array) || signer.length !== AUTHORITY_KEY_BYTES) {
    refuse("malformed", "kid must be the signer's 32-byte public key");
  }
  return { sign1, signer, header };
}

/** Signature over the raw signed bytes, under the key the caller chose (never merely the one the header names). */
export function checkSignature(doc: OpenedDocument, key: Uint8Array, backend: Ed25519Backend = defaultEd25519): void {
  if (!bytesEqual(doc.signer, key)) refuse("wrong_authority", "signed by another key than the one trusted here");
  if (!verifySign1Signature(doc.sign1, key, undefined, backend)) refuse("bad_signature", "signature does not verify");
}

/** The payload, read only after its signature verified. */
export function readPayload(doc: OpenedDocument, what: string): Claims {
  let value: CborValue;
  try {
    // A literal, not `{ ...LIMITS, maxBytes }`: V8 adds a property after a spread on a slow path (~1 µs a call).
    value = decodeStrict(doc.sign1.payload, {
      maxDepth: LIMITS.maxDepth,
      maxItems: LIMITS.maxItems,
      depthCode: LIMITS.depthCode,
      maxBytes: doc.sign1.payload.length,
    });
  } catch (e) {
    if (e instanceof ProtocolError && e.code === "too_deep") throw e;
    refuse("invalid_claims", `${what}: payload is not well-formed CBOR`);
  }
  if (!(value instanceof Map)) refuse("invalid_claims", `${what}: payload is not a map`);
  return new Claims(value, what);
}

/**
 * A small document's claims, read only once it is open and signed by the pinned `authority` (the order of
 * docs/trust.md "Verification order").
 */
export function openSmallDocument(
  bytes: Uint8Array,
  typ: string,
  what: string,
  authority: Uint8Array,
  backend?: Ed25519Backend,
): Claims {
  const doc = openDocument(bytes, typ, MAX_SMALL_DOCUMENT_BYTES);
  checkSignature(doc, authority, backend);
  return readPayload(doc, what);
}

const NO_CLAIMS = new Map<CborKey, CborValue>();

/** Typed reads of a payload map with integer labels; any wrong field is `invalid_claims` naming it. */
export class Claims {
  /**
   * `name` and `index` give a nested map's place in its parent (`revoked[3]`: a list item's name and index), joined to
   * the parent's `what` only when a field is refused: a state's 169 revocations built 338 strings per verification.
   * Two fields rather than a place object: one allocation less per revocation.
   */
  constructor(
    private map: Map<CborKey, CborValue>,
    private readonly parent: string,
    private readonly name?: string,
    private index?: number,
  ) {}

  get what(): string {
    if (this.name === undefined) return this.parent;
    return this.index === undefined ? `${this.parent}.${this.name}` : `${this.parent}.${this.name}[${this.index}]`;
  }

  fail(name: string, expected: string): never {
    refuse("invalid_claims", `${this.what}: ${name} must be ${expected}`);
  }

  has(label: number): boolean {
    return this.map.get(label) !== undefined;
  }

  get(label: number): CborValue {
    return this.map.get(label);
  }

  text(label: number, name: string, maxLength = 256): string {
    const v = this.map.get(label);
    if (typeof v !== "string" || v.length === 0 || v.length > maxLength) this.fail(name, `text of 1 to ${maxLength}`);
    return v;
  }

  /** A non-negative safe integer: larger values decode as bigint and are refused here. */
  uint(label: number, name: string, min = 0): number {
    const v = this.map.get(label);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) this.fail(name, `a safe integer >= ${min}`);
    return v;
  }

  bytes(label: number, name: string, length: number, maxLength = length): Uint8Array {
    const v = this.map.get(label);
    if (!(v instanceof Uint8Array) || v.length < length || v.length > maxLength) {
      this.fail(name, length === maxLength ? `a ${length}-byte byte string` : `${length} to ${maxLength} bytes`);
    }
    return v;
  }

  array(label: number, name: string, maxItems: number): CborValue[] {
    const v = this.map.get(label);
    if (!Array.isArray(v) || v.length > maxItems) this.fail(name, `an array of at most ${maxItems} items`);
    return v;
  }

  /**
   * What `read` makes of each map in the list at `label`, in order. One reader is pointed at each item in turn (a
   * state's 169 revocations made 169 of them), so `read` must not keep it past its call.
   */
  eachMap<T>(label: number, name: string, maxItems: number, read: (item: Claims) => T): T[] {
    const list = this.array(label, name, maxItems);
    const out: T[] = new Array(list.length);
    const reader = new Claims(NO_CLAIMS, this.what, name, 0);
    for (let n = 0; n < list.length; n++) {
      const value = list[n];
      if (!(value instanceof Map)) this.fail(`${name}[${n}]`, "a map");
      reader.map = value;
      reader.index = n;
      out[n] = read(reader);
    }
    return out;
  }

  /** The map `value` found at `name`, its claims named after that place (a list's maps: `eachMap`). */
  nested(value: CborValue, name: string): Claims {
    if (!(value instanceof Map)) this.fail(name, "a map");
    return new Claims(value, this.what, name);
  }
}
