import { createHash, timingSafeEqual } from "node:crypto";

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * HTTP Basic login of the status page (RFC 7617). Compared as SHA-256 digests in constant time, so neither the length
 * nor a prefix of the password leaks through timing. The password itself is never logged or echoed.
 */
export class StatusLogin {
  private readonly user: Buffer;
  private readonly password: Buffer;

  constructor(username: string, password: string) {
    this.user = digest(username);
    this.password = digest(password);
  }

  /** Whether an `Authorization` header carries these credentials. */
  accepts(header: string | undefined): boolean {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
    if (!match) return false;
    const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return false;
    // Both compared every time: no early answer for a wrong user name.
    const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), this.user);
    const passwordOk = timingSafeEqual(digest(decoded.slice(colon + 1)), this.password);
    return userOk && passwordOk;
  }
}
