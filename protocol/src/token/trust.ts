import { toHex } from "../bytes.js";
import { isStrongPublicKey, VerifyKey } from "../crypto/ed25519.js";

/** An issuer key a lock trusts: `kid` names it in token headers, `publicKey` is its raw Ed25519 key. */
export interface TrustedIssuer {
  kid: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * The issuer keys a verifier trusts, looked up by kid. Keys are checked once, here: a key that is not a canonical,
 * full-order Ed25519 point is refused, so a misconfigured or hostile issuer key never reaches verification.
 */
export class TrustStore {
  private readonly byKid = new Map<string, VerifyKey>();

  constructor(issuers: Iterable<TrustedIssuer> = []) {
    for (const issuer of issuers) this.add(issuer);
  }

  add(issuer: TrustedIssuer): void {
    if (!(issuer.kid instanceof Uint8Array) || issuer.kid.length === 0 || issuer.kid.length > 64) {
      throw new TypeError("issuer kid must be 1 to 64 bytes");
    }
    if (!isStrongPublicKey(issuer.publicKey)) {
      throw new TypeError(`issuer key ${toHex(issuer.kid)} is not a valid Ed25519 public key`);
    }
    this.byKid.set(toHex(issuer.kid), new VerifyKey(issuer.publicKey));
  }

  get(kid: Uint8Array): VerifyKey | undefined {
    return this.byKid.get(toHex(kid));
  }

  get size(): number {
    return this.byKid.size;
  }

  kids(): string[] {
    return [...this.byKid.keys()];
  }
}

/** Revoked key ids, as lowercase hex of the 16-byte cti. */
export interface RevocationList {
  has(ctiHex: string): boolean;
  /**
   * When present, asked instead of `has`, with the token's `iat`: a signed lock state revokes some keys only for tokens
   * issued before a time, and refuses every token issued before its `minIat` (docs/trust.md "Signed lock state").
   */
  revokes?(ctiHex: string, iat: number): boolean;
}
