import { pbkdf2Sync, randomBytes } from "node:crypto";

/**
 * One line of a Mosquitto 2.x password file, in the `$7$` format mosquitto_passwd writes:
 * PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte hash, standard base64.
 */
export function mosquittoPasswordLine(
  username: string,
  password: string,
  options: { iterations?: number; salt?: Uint8Array } = {},
): string {
  if (username.includes(":") || /[\r\n]/.test(username))
    throw new TypeError(`username "${username}" cannot go in a password file`);
  const iterations = options.iterations ?? 1000;
  const salt = options.salt ?? randomBytes(12);
  const hash = pbkdf2Sync(password, salt, iterations, 64, "sha512");
  return `${username}:$7$${iterations}$${Buffer.from(salt).toString("base64")}$${hash.toString("base64")}`;
}
