import { ChildExitedError, ManagedChild } from "./child.js";

export interface CloudCredentials {
  integratorId: string;
  clientId: string;
  clientSecret: string;
}

/**
 * The environment for the cloud and bridge children: the launcher's, without what would silently change them. The
 * cloud reads DATABASE_URL and LATCHKEY_* and the bridge LATCHKEY_BRIDGE_*; `npm start` runs embedded defaults
 * unless a flag opts in, so those are dropped, and DATABASE_URL is set only from --database-url.
 */
export function childEnv(env: NodeJS.ProcessEnv, databaseUrl?: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (name === "DATABASE_URL" || name === "DATABASE_POOL_MAX" || name === "MQTT_URL") continue;
    if (name.startsWith("LATCHKEY_")) continue;
    out[name] = value;
  }
  if (databaseUrl !== undefined) out.DATABASE_URL = databaseUrl;
  return out;
}

/** `latchkey-cloud bootstrap --data <dir> --json`: a new integrator and its client credentials. */
export async function bootstrapIntegrator(
  bin: string,
  dataDir: string,
  env: NodeJS.ProcessEnv,
  name = "latchkey stack",
): Promise<CloudCredentials> {
  const child = new ManagedChild({
    name: "cloud bootstrap",
    script: bin,
    args: ["bootstrap", "--data", dataDir, "--name", name, "--json"],
    env,
  });
  const { code } = await child.waitForExit();
  const answer = child.lines.find((l) => l.stream === "stdout" && l.record?.clientSecret !== undefined)?.record;
  if (code !== 0 || !answer) throw new ChildExitedError(child.name, code, null, child.tail());
  return {
    integratorId: String(answer.integratorId),
    clientId: String(answer.clientId),
    clientSecret: String(answer.clientSecret),
  };
}

export interface CloudProcessOptions {
  bin: string;
  dataDir: string;
  /** 0 = any free port (read back from the log). */
  port: number;
  env: NodeJS.ProcessEnv;
  logLevel?: string;
  timeoutMs?: number;
  /** See ManagedChild: the launcher stops its children itself, in order. */
  ownProcessGroup?: boolean;
  /** `--allow-private-webhooks`: webhook receivers on this machine (127.0.0.1) are reachable. */
  allowPrivateWebhooks?: boolean;
  /**
   * `--dev-otp-log`: one-time codes are written to the cloud's log (where `oneTimeCode` reads them) instead of sent.
   * `serve` refuses to start without a sender, so without this `otpWebhook` must be set.
   */
  devOtpLog?: boolean;
  /** `--otp-webhook <url>` (the signing secret goes in `env` as LATCHKEY_OTP_WEBHOOK_SECRET). */
  otpWebhook?: string;
  /** Node flags of the child (the bench's `--cpu-prof`). */
  nodeArgs?: string[];
}

export interface CloudProcess {
  child: ManagedChild;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
}

/** `latchkey-cloud serve`; resolves once it logged "latchkey cloud listening" (with the port it got). */
export async function startCloudProcess(options: CloudProcessOptions): Promise<CloudProcess> {
  const child = new ManagedChild({
    name: "cloud",
    script: options.bin,
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    args: [
      "serve",
      "--port",
      String(options.port),
      "--data",
      options.dataDir,
      "--log-level",
      options.logLevel ?? "info",
      ...(options.allowPrivateWebhooks ? ["--allow-private-webhooks"] : []),
      ...(options.devOtpLog ? ["--dev-otp-log"] : []),
      ...(options.otpWebhook !== undefined ? ["--otp-webhook", options.otpWebhook] : []),
    ],
    env: options.env,
    ownProcessGroup: options.ownProcessGroup === true,
  });
  try {
    const record = await child.waitForLog("latchkey cloud listening", (r) => typeof r.url === "string", {
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    const url = String(record.url);
    return { child, url, port: Number(new URL(url).port) };
  } catch (e) {
    await child.kill();
    throw e;
  }
}

/**
 * The one-time code the development sender logged for `phoneNumber` (docs/app-api.md step 1), among the lines from
 * `since` on: the code of the verification just requested, not of an older one.
 */
export async function oneTimeCode(cloud: ManagedChild, phoneNumber: string, since: number): Promise<string> {
  const record = await cloud.waitForLog("one-time code", (r) => r.phoneNumber === phoneNumber, {
    since,
    timeoutMs: 15_000,
  });
  return String(record.code);
}
