import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deriveLockPassword } from "@latchkey/protocol";
import { mosquittoAcl } from "./acl.js";
import { mosquittoPasswordLine } from "./password-file.js";

export interface MosquittoFilesOptions {
  dir: string;
  siteSecret: string;
  lockIds: string[];
  bridgeUsername: string;
  bridgePassword: string;
  topicPrefix?: string;
  homeAssistantPrefix?: string;
  /** When set, also write a mosquitto.conf listening here (for tests and small sites). */
  listener?: { host: string; port: number };
  /** With `listener`: the user Mosquitto runs as. Started as root it otherwise drops to `mosquitto`, which cannot read 0600 files. */
  runAsUser?: string;
}

export interface MosquittoFiles {
  passwordFile: string;
  aclFile: string;
  confFile?: string;
}

/** Writes the password and ACL files (mode 0600: they hold password hashes) and optionally a mosquitto.conf. */
export function writeMosquittoFiles(options: MosquittoFilesOptions): MosquittoFiles {
  mkdirSync(options.dir, { recursive: true });
  const lines = [mosquittoPasswordLine(options.bridgeUsername, options.bridgePassword)];
  for (const lockId of options.lockIds) {
    // Lock passwords are 256-bit HMAC outputs, so few PBKDF2 iterations lose nothing and keep 1,000 locks fast.
    lines.push(mosquittoPasswordLine(lockId, deriveLockPassword(options.siteSecret, lockId), { iterations: 101 }));
  }
  const passwordFile = join(options.dir, "passwords");
  const aclFile = join(options.dir, "acl");
  writeFileSync(passwordFile, `${lines.join("\n")}\n`, { mode: 0o600 });
  writeFileSync(aclFile, mosquittoAcl(options), { mode: 0o600 });
  chmodSync(passwordFile, 0o600);
  const files: MosquittoFiles = { passwordFile, aclFile };
  if (options.listener) {
    const confFile = join(options.dir, "mosquitto.conf");
    writeFileSync(
      confFile,
      [
        `listener ${options.listener.port} ${options.listener.host}`,
        "allow_anonymous false",
        `password_file ${passwordFile}`,
        `acl_file ${aclFile}`,
        // The ACL cannot see client ids: without this, a lock's valid login under the bridge's or another lock's
        // client id would take over that session (kick it off, and with a clean start discard its queued messages).
        "use_username_as_clientid true",
        "persistence false",
        ...(options.runAsUser ? [`user ${options.runAsUser}`] : []),
        "",
      ].join("\n"),
    );
    files.confFile = confFile;
  }
  return files;
}
