import { createHash, timingSafeEqual } from "node:crypto";
import { checkLockPassword, isValidLockId } from "@latchkey/protocol";
import type { MqttAccount } from "../config/schema.js";
import type { Principal } from "./acl.js";

const digest = (value: string | Uint8Array) => createHash("sha256").update(value).digest();

/**
 * Broker logins: a lock logs in with its id as username and the password derived from the site secret (protocol
 * `checkLockPassword`, no per-lock table); configured accounts (Home Assistant) with their own password. A lock must
 * also use its id as client id, so that no client can take over another lock's persistent session.
 */
export class BrokerCredentials {
  private readonly accounts: Map<string, { password: Buffer; account: MqttAccount }>;

  constructor(
    private readonly siteSecret: string,
    accounts: readonly MqttAccount[],
  ) {
    this.accounts = new Map(accounts.map((a) => [a.username, { password: digest(a.password), account: a }]));
  }

  check(clientId: string, username: string | undefined, password: Uint8Array | undefined): Principal | null {
    if (username === undefined || password === undefined) return null;
    const account = this.accounts.get(username);
    if (account) {
      // Compare digests: constant time whatever the length of the given password.
      if (!timingSafeEqual(account.password, digest(password))) return null;
      return { role: account.account.role, username };
    }
    if (!isValidLockId(username) || clientId !== username) return null;
    return checkLockPassword(this.siteSecret, username, password) ? { role: "lock", lockId: username } : null;
  }
}
