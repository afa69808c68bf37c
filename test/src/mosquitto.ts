import { spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { userInfo } from "node:os";
import { freePort, ManagedChild, mosquittoPasswordLine, writeMosquittoFiles } from "@latchkey/scripts";
import type { Resources } from "./resources.js";
import { announceSkip } from "./skip.js";

/** The Mosquitto binary on this host, if one runs. */
export const mosquittoBinary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"].find(
  (p) => spawnSync(p, ["-h"]).error === undefined,
);

/**
 * Why the runs on a Mosquitto of the test's own are skipped on this host, or null: they run where MQTT_URL says
 * a broker is meant to be tested and a mosquitto binary is installed. The reason is announced under `what`.
 */
export function skipWithoutMosquitto(what: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const reason = !env.MQTT_URL ? "MQTT_URL is not set" : !mosquittoBinary ? "no mosquitto binary on this host" : null;
  if (reason) announceSkip(what, reason);
  return reason;
}

export interface SiteMosquittoOptions {
  /** The site whose bridge and locks will use the broker: closed before the broker stops. */
  site: { bridgeId: string; siteSecret: string; close(): Promise<void> };
  resources: Resources;
  /** The prefix of the temporary folder the files are written to. */
  dirPrefix: string;
  /** The locks given credentials (a lock given them but not running is an intruder's login). */
  lockIds: string[];
  bridgePassword: string;
  /** The test's own observer, added to the generated files (which are otherwise used as written). */
  observer?: { password: string; acl: string };
}

/**
 * A private Mosquitto started from the files `latchkey-mosquitto-acl` writes (scripts/src/mosquitto) for a site, on
 * a free port of 127.0.0.1. Answers its URL and the bridge's user name; the caller waits for a login it needs.
 */
export async function startSiteMosquitto(o: SiteMosquittoOptions): Promise<{ url: string; bridgeUser: string }> {
  const port = await freePort();
  const bridgeUser = `bridge@${o.site.bridgeId}`;
  const files = writeMosquittoFiles({
    dir: o.resources.tempDir(o.dirPrefix),
    siteSecret: o.site.siteSecret,
    lockIds: o.lockIds,
    bridgeUsername: bridgeUser,
    bridgePassword: o.bridgePassword,
    listener: { host: "127.0.0.1", port },
    // Started as root, Mosquitto drops to user "mosquitto", which cannot read the 0600 files.
    runAsUser: userInfo().username,
  });
  if (o.observer) {
    appendFileSync(files.passwordFile, `${mosquittoPasswordLine("observer", o.observer.password)}\n`);
    appendFileSync(files.aclFile, `user observer\n${o.observer.acl}`);
  }
  const broker = new ManagedChild({ name: "mosquitto", command: mosquittoBinary!, args: ["-c", files.confFile!] });
  o.resources.defer("stop mosquitto", () => broker.stop("SIGTERM", 5000));
  // The locks and the bridge say goodbye to the broker: they stop before it.
  o.resources.defer("stop the site before mosquitto", () => o.site.close());
  return { url: `mqtt://127.0.0.1:${port}`, bridgeUser };
}
