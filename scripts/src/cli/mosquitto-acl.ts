import { readFileSync } from "node:fs";
import { isValidLockId } from "@latchkey/protocol";
import { addCliOptions, type CliOptions, type CliValues, readCliOptions } from "@latchkey/runtime";
import { Type } from "@sinclair/typebox";
import { Command, CommanderError } from "commander";
import { writeMosquittoFiles } from "../mosquitto/files.js";
import { PACKAGE_VERSION } from "./version.js";

/**
 * latchkey-mosquitto-acl: password and ACL files for running latchkey locks on an external Mosquitto.
 *   latchkey-mosquitto-acl --site-secret <s> --locks lock-1,lock-2 --bridge-user bridge@br_1 --bridge-password <p> --out /etc/mosquitto/latchkey
 * Then in mosquitto.conf: `password_file <out>/passwords`, `acl_file <out>/acl`, `allow_anonymous false`.
 */
/** A secret from a file (its first line, trimmed); the message names the file, never its content. */
function fromFile(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, "utf8").split(/\r?\n/)[0]!.trim();
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

const text = (flags: string, description: string) => ({ flags, description, schema: Type.String() });
const secret = (flags: string, description: string) => ({
  flags,
  description,
  schema: Type.String({ secret: true }),
});

/**
 * The flags, each with its schema (runtime readCliOptions). A secret comes from its flag, else its file, else its
 * environment variable, so it need not show in the process list.
 */
const OPTIONS = {
  siteSecret: secret(
    "--site-secret <secret>",
    "the bridge's mqtt.siteSecret (or LATCHKEY_SITE_SECRET, or --site-secret-file)",
  ),
  siteSecretFile: text(
    "--site-secret-file <file>",
    "a file holding the site secret (keeps it out of the process list)",
  ),
  locks: text("--locks <ids>", "comma-separated lock ids"),
  locksFile: text("--locks-file <file>", "a file with one lock id per line"),
  // --bridge-user and --out are required but checked below: commander reports a missing required option before an
  // unknown one, and `--bogus` must be named as such (issue 15 item 10).
  bridgeUser: text("--bridge-user <name>", "the bridge's MQTT username (required)"),
  bridgePassword: secret(
    "--bridge-password <password>",
    "the bridge's MQTT password (or LATCHKEY_BRIDGE_MQTT_PASSWORD, or --bridge-password-file)",
  ),
  bridgePasswordFile: text("--bridge-password-file <file>", "a file holding the bridge's MQTT password"),
  topicPrefix: { ...text("--topic-prefix <prefix>", "topic prefix"), default: "latchkey" },
  haPrefix: { ...text("--ha-prefix <prefix>", "Home Assistant discovery prefix"), default: "homeassistant" },
  out: text("--out <dir>", "directory to write passwords and acl into (required)"),
} satisfies CliOptions;

export async function runMosquittoAclCli(argv: string[]): Promise<number> {
  const program = addCliOptions(
    new Command("latchkey-mosquitto-acl")
      .description("write a Mosquitto password file and ACL file for latchkey locks and a bridge")
      .version(PACKAGE_VERSION)
      .exitOverride(),
    OPTIONS,
  );
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    program.parse(argv, { from: "user" });
  } catch (e) {
    return e instanceof CommanderError && e.exitCode === 0 ? 0 : 2;
  }
  const fail = (message: string) => {
    console.error(`latchkey-mosquitto-acl: ${message}`);
    return 2;
  };
  let o: CliValues<typeof OPTIONS>;
  try {
    o = readCliOptions(OPTIONS, program.opts(), {});
  } catch (e) {
    return fail((e as Error).message);
  }
  if (o.bridgeUser === undefined) return fail("--bridge-user is required");
  if (o.out === undefined) return fail("--out is required");
  let siteSecret: string | undefined;
  let bridgePassword: string | undefined;
  try {
    siteSecret = o.siteSecret ?? fromFile(o.siteSecretFile) ?? process.env.LATCHKEY_SITE_SECRET;
    bridgePassword = o.bridgePassword ?? fromFile(o.bridgePasswordFile) ?? process.env.LATCHKEY_BRIDGE_MQTT_PASSWORD;
  } catch (e) {
    return fail((e as Error).message);
  }
  if (!siteSecret || siteSecret.length < 16) return fail("--site-secret is required (at least 16 characters)");
  if (!bridgePassword) return fail("--bridge-password is required");
  const ids = [
    ...(o.locks ? o.locks.split(",") : []),
    ...(o.locksFile ? readFileSync(o.locksFile, "utf8").split(/\r?\n/) : []),
  ]
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (ids.length === 0) return fail("give the lock ids with --locks or --locks-file");
  const bad = ids.find((id) => !isValidLockId(id));
  if (bad !== undefined) return fail(`--locks: "${bad}" is not a valid lock id`);
  try {
    const files = writeMosquittoFiles({
      dir: o.out,
      siteSecret,
      lockIds: ids,
      bridgeUsername: o.bridgeUser,
      bridgePassword,
      topicPrefix: o.topicPrefix,
      homeAssistantPrefix: o.haPrefix,
    });
    console.log(`wrote ${files.passwordFile} (${ids.length + 1} users) and ${files.aclFile}`);
    return 0;
  } catch (e) {
    return fail((e as Error).message);
  }
}
