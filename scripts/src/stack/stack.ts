import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type Fleet, fleetLockIds, startFleet, type VirtualRadio } from "@latchkey/lock-sim";
import { toHex } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/runtime";
import pino from "pino";
import { ApiError } from "../client/index.js";
import { IntegratorClient } from "../client/integrator-client.js";
import { openStackBle, type StackBle } from "./ble-transport.js";
import { type BridgeProcess, startBridgeProcess, writeBridgeConfig } from "./bridge-process.js";
import type { ManagedChild } from "./child.js";
import { claimLocks, describeClaims, type LockClaim, readSetupCodes } from "./claims.js";
import { bootstrapIntegrator, type CloudProcess, childEnv, oneTimeCode, startCloudProcess } from "./cloud-process.js";
import { lockDataDir } from "./data-lock.js";
import { LogFormatter } from "./log-format.js";
import type { StackOptions } from "./options.js";
import type { Output } from "./output.js";
import { assertBuilt, bins, workspaceRoot } from "./paths.js";
import { type OneTimeCodes, StackPhone } from "./phone.js";
import { choosePort } from "./ports.js";
import { provision } from "./provision.js";
import { loadState, newPhone, newState, type StackState, StateFileError, saveState, stateFile } from "./state.js";
import type { StackSummary, SummaryDetails } from "./summary.js";

export interface RunningStack {
  readonly summary: StackSummary;
  readonly details: SummaryDetails;
  readonly state: StackState;
  readonly client: IntegratorClient;
  readonly cloud: ManagedChild;
  readonly bridge: ManagedChild;
  readonly fleet: Fleet;
  readonly radio: VirtualRadio;
  /** How the phone reaches each lock: the virtual radio, or noble and bleno over emulated HCI (`--ble`). */
  readonly ble: StackBle;
  readonly phone: StackPhone;
  readonly codes: OneTimeCodes;
  /** Each lock's claim by the lock holder (made or confirmed at this start). */
  readonly claims: readonly LockClaim[];
  /**
   * Another person's phone (`phoneNumber`, default +4790000002), registered through the app API the first time it is
   * asked for; its device key and access token are kept in the data directory like the stack's phone.
   */
  otherPhone(phoneNumber?: string): Promise<StackPhone>;
  /**
   * Freezes the bridge process (SIGSTOP): its broker, its change feed and its uploads stand still, so nothing reaches
   * the locks from the cloud but what a phone carries. `resumeBridge` (SIGCONT) lets it go on where it stopped; `stop`
   * resumes it first.
   */
  pauseBridge(): void;
  resumeBridge(): void;
  /** Rejects when the cloud or the bridge exits while the stack runs. */
  readonly failure: Promise<never>;
  /** Locks, then the bridge (SIGTERM), then the cloud (SIGTERM). Safe to call twice. */
  stop(): Promise<void>;
}

const LOCK_PREFIX = "sim-lock-";

/**
 * Starts the whole stack: the cloud and the bridge as child processes (their real bins), the locks and the phone
 * here (the phone needs the in-process virtual radio). Resolves once everything is ready: the vendor connection is
 * connected, every lock is online in the cloud and trusts the lock holder's issuer key, the phone is registered.
 */
export async function startStack(
  options: StackOptions,
  out: Output,
  env: NodeJS.ProcessEnv = process.env,
  signal?: AbortSignal,
): Promise<RunningStack> {
  const root = workspaceRoot();
  assertBuilt(root);
  const bin = bins(root);
  const say = (text: string) => out.line("stack", text, "magenta");
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const unlockDataDir = lockDataDir(options.dataDir);
  let existing: StackState | null;
  try {
    existing = loadState(options.dataDir);
  } catch (e) {
    unlockDataDir();
    throw e;
  }
  const state = existing ?? newState();
  const save = () => saveState(options.dataDir, state);
  say(existing ? `reusing ${stateFile(options.dataDir)}` : `first start: state goes to ${stateFile(options.dataDir)}`);
  const notes: string[] = [];
  const children: ManagedChild[] = [];
  let fleet: Fleet | null = null;
  let phone: StackPhone | null = null;
  let otherPhone: StackPhone | null = null;
  let bridgePaused: ManagedChild | null = null;
  const resumeBridge = () => {
    if (bridgePaused?.running) bridgePaused.process.kill("SIGCONT");
    bridgePaused = null;
  };
  let ble: StackBle | null = null;

  // Anything that exits the process (an exception, process.exit) must not leave the children running.
  const killChildren = () => {
    resumeBridge();
    for (const child of children) if (child.running) child.process.kill("SIGKILL");
  };
  process.once("exit", killChildren);

  const shutdown = async () => {
    // A frozen bridge would never see its SIGTERM.
    resumeBridge();
    await fleet?.stop().catch(() => {});
    await ble?.close().catch(() => {});
    phone?.close();
    otherPhone?.close();
    for (const child of [...children].reverse()) await child.stop("SIGTERM", 20_000);
  };
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= shutdown().finally(() => {
      process.off("exit", killChildren);
      unlockDataDir();
    });
    return stopping;
  };

  // Ctrl-C while starting: stop what runs so far; the waits below then fail and startStack rejects.
  signal?.addEventListener("abort", () => void stop(), { once: true });
  const check = () => signal?.throwIfAborted();

  try {
    check();
    const envForChildren = childEnv(env, options.databaseUrl);
    const cloudData = join(options.dataDir, "cloud");
    // The cloud keeps its master key here; with PostgreSQL nothing else would create the directory.
    mkdirSync(cloudData, { recursive: true, mode: 0o700 });
    if (options.databaseUrl) say("cloud database: PostgreSQL (--database-url)");
    if (!state.integrator) {
      state.integrator = await bootstrapIntegrator(bin.cloud, cloudData, envForChildren);
      save();
      say(`bootstrapped integrator ${state.integrator.integratorId}`);
    }

    const api = await choosePort(options.apiPort, options.explicit.apiPort, "--port");
    const cloudLog = new LogFormatter(out, "cloud", "cyan", options.verbose);
    const cloud: CloudProcess = await startCloudProcess({
      bin: bin.cloud,
      dataDir: cloudData,
      port: api.port,
      env: envForChildren,
      ownProcessGroup: true,
      // The demo's webhook receiver listens on 127.0.0.1, which the cloud refuses to call by default.
      allowPrivateWebhooks: true,
      // The demo's phone reads its one-time code from the cloud's log: no SMS gateway here.
      devOtpLog: true,
    });
    children.push(cloud.child);
    cloud.child.on("line", (l) => cloudLog.print(l.text, l.record));
    for (const l of cloud.child.lines) cloudLog.print(l.text, l.record);
    say(`cloud listening on ${cloud.url} (pid ${cloud.child.pid})`);
    notes.push(
      "the cloud runs with --allow-private-webhooks (the demo's receiver is on 127.0.0.1); leave it off in production",
      "the cloud runs with --dev-otp-log (one-time codes go to its log, where the demo's phone reads them); in " +
        "production give --otp-webhook <url> instead",
    );
    if (api.fallback)
      notes.push(`port ${options.apiPort} was taken: the API listens on ${cloud.port} (--port to choose)`);
    const docsUrl = `${cloud.url}/docs`;

    check();
    let client: IntegratorClient;
    try {
      client = await IntegratorClient.login(cloud.url, state.integrator);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401)
        throw new StateFileError(
          stateFile(options.dataDir),
          "its integrator credentials are not in the cloud's database (was the cloud's data removed, or --database-url changed?)",
        );
      throw e;
    }
    const site = await provision(client, state, save, say);

    const codes: OneTimeCodes = {
      mark: () => cloud.child.lineCount,
      code: (number, since) => oneTimeCode(cloud.child, number, since),
    };

    check();
    const external = options.mqttUrl !== undefined;
    const mqtt = external
      ? { port: 0, fallback: false }
      : await choosePort(options.mqttPort, options.explicit.mqttPort, "--mqtt-port");
    const metrics = await choosePort(options.metricsPort, options.explicit.metricsPort, "--metrics-port");
    const configFile = join(options.dataDir, "bridge.yaml");
    writeBridgeConfig(configFile, {
      cloudUrl: cloud.url,
      bridgeId: site.bridgeId,
      bridgeSecret: site.bridgeSecret,
      siteSecret: state.siteSecret,
      dataDir: "bridge",
      vendor: state.vendor,
      mqttPort: mqtt.port,
      mqttHost: options.mqttHost,
      ...(options.homeAssistant ? { homeAssistant: options.homeAssistant } : {}),
      ...(options.mqttUrl ? { mqttUrl: options.mqttUrl } : {}),
      metricsPort: metrics.port,
      logLevel: options.verbose ? "debug" : "info",
    });
    const bridgeLog = new LogFormatter(out, "bridge", "blue", options.verbose);
    const bridge: BridgeProcess = await startBridgeProcess(bin.bridge, configFile, envForChildren, {
      ownProcessGroup: true,
    });
    children.push(bridge.child);
    bridge.child.on("line", (l) => bridgeLog.print(l.text, l.record));
    for (const l of bridge.child.lines) bridgeLog.print(l.text, l.record);
    say(`bridge started (pid ${bridge.child.pid}): broker ${bridge.mqttUrl}`);
    if (mqtt.fallback)
      notes.push(
        `port ${options.mqttPort} was taken (a Mosquitto?): the embedded MQTT broker listens on ${new URL(bridge.mqttUrl).port} (--mqtt-port to choose)`,
      );
    if (metrics.fallback && bridge.metricsUrl)
      notes.push(
        `port ${options.metricsPort} was taken: bridge metrics are on ${new URL(bridge.metricsUrl).port} (--metrics-port to choose)`,
      );

    const failure = new Promise<never>((_, reject) => {
      for (const child of children) {
        child.once("exit", (code, signal) => {
          if (!stopping) reject(new Error(`${child.name} exited unexpectedly (${signal ?? `code ${code}`})`));
        });
      }
    });
    failure.catch(() => {});

    check();
    // The locks: their ids are kept, so a second start finds the same locks (and their flash) again.
    const lockIds = fleetLockIds(options.locks, LOCK_PREFIX);
    if (JSON.stringify(lockIds) !== JSON.stringify(state.locks)) {
      state.locks = lockIds;
      save();
    }
    const lockLog = new LogFormatter(out, "locks", "yellow", options.verbose);
    const lockLogger = pino(
      { level: options.verbose ? "info" : "warn" },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const text of chunk.toString("utf8").split("\n"))
            if (text.trim()) lockLog.print(text, JSON.parse(text) as Record<string, unknown>);
          done();
        },
      }),
    );
    const locksDataDir = join(options.dataDir, "locks");
    // The labels are read while no lock holds the flash; they stay in this process (never in a log or the bridge).
    const labels = readSetupCodes(lockIds, locksDataDir);
    // Before the locks start: with --ble hci-emulated, the first lock's bleno must find the emulated controller.
    const openedBle = await openStackBle(options.ble, lockIds, join(options.dataDir, "hci.log"));
    ble = openedBle;
    say(openedBle.description);
    fleet = await startFleet({
      count: options.locks,
      prefix: LOCK_PREFIX,
      mqttUrl: bridge.mqttUrl,
      siteSecret: state.siteSecret,
      dataDir: locksDataDir,
      radio: openedBle.radio,
      ...(openedBle.blenoLocks.length > 0 ? { hardwareBle: openedBle.blenoLocks } : {}),
      logger: lockLogger,
      telemetryIntervalSeconds: 60,
    });
    for (const lock of fleet.locks) {
      lock.on("event", (event) => {
        if (out.quiet && !options.verbose) return;
        const extra = [event.key ? `key ${toHex(event.key).slice(0, 8)}…` : "", event.code ? `code ${event.code}` : ""]
          .filter(Boolean)
          .join(", ");
        out.line(
          "locks",
          `${lock.id} ${out.style(event.type, "bold")}${extra ? ` (${extra})` : ""} seq ${event.seq}`,
          "yellow",
        );
      });
    }
    check();
    await fleet.whenOnline(60_000);
    say(`${fleet.locks.length} locks connected to ${bridge.mqttUrl}`);

    say("waiting for the vendor connection, the locks in the cloud, their claims and their first signed state");
    await client.waitForVendorConnection(site.lockHolderId, site.vendorConnectionId, "connected", {
      timeoutMs: 60_000,
      ...(signal ? { signal } : {}),
    });
    const issuers = (await client.listIssuerKeys(site.lockHolderId)).filter((k) => k.active).map((k) => k.kid);
    const running = fleet;
    await pollUntil(
      "every lock online in the cloud",
      async () => {
        const locks = (await client.listLocks(site.lockHolderId)).locks;
        return lockIds.every((id) => locks.some((l) => l.id === id && l.online));
      },
      { timeoutMs: 60_000, intervalMs: 200, ...(signal ? { signal } : {}) },
    );
    check();
    const claims = await claimLocks(client, site.lockHolderId, labels);
    say(describeClaims(claims));
    await pollUntil(
      "every lock to trust the lock holder's issuer key and know the time (its signed state and a signed time " +
        "answer, relayed by the bridge)",
      () => running.locks.every((l) => l.clockSet && issuers.every((kid) => l.trustedKids.includes(kid))),
      { timeoutMs: 60_000, intervalMs: 100, ...(signal ? { signal } : {}) },
    );

    check();
    phone = new StackPhone(state.phone, (accessToken) => {
      state.phone.accessToken = accessToken;
      save();
    });
    const registered = await phone.ensureRegistered(cloud.url, codes);
    say(
      registered
        ? `phone ${phone.number} registered with a one-time code (its device key is kept in ${stateFile(options.dataDir)})`
        : `phone ${phone.number} is registered from the last start`,
    );

    check();
    const summary: StackSummary = {
      apiUrl: cloud.url,
      integratorId: state.integrator.integratorId,
      clientId: state.integrator.clientId,
      clientSecret: state.integrator.clientSecret,
      lockHolderId: site.lockHolderId,
      vendorConnectionId: site.vendorConnectionId,
      bridgeId: site.bridgeId,
      locks: lockIds,
    };
    const details: SummaryDetails = {
      docsUrl,
      mqttUrl: bridge.mqttUrl,
      metricsUrl: bridge.metricsUrl,
      phoneNumber: phone.number,
      claimedLocks: claims.filter((c) => c.claim.claimed).map((c) => c.claim.lockId),
      dataDir: options.dataDir,
      notes,
      ...(options.homeAssistant ? { homeAssistantUsername: options.homeAssistant.username } : {}),
    };
    return {
      summary,
      details,
      state,
      client,
      cloud: cloud.child,
      bridge: bridge.child,
      fleet,
      radio: openedBle.radio,
      ble: openedBle,
      phone,
      codes,
      claims,
      async otherPhone(phoneNumber = "+4790000002") {
        if (otherPhone) return otherPhone;
        if (state.otherPhone?.number !== phoneNumber) {
          state.otherPhone = newPhone(phoneNumber);
          save();
        }
        const held = state.otherPhone;
        const other = new StackPhone(held, (accessToken) => {
          held.accessToken = accessToken;
          save();
        });
        otherPhone = other;
        await other.ensureRegistered(cloud.url, codes);
        return other;
      },
      pauseBridge() {
        if (bridgePaused || !bridge.child.running) return;
        bridge.child.process.kill("SIGSTOP");
        bridgePaused = bridge.child;
      },
      resumeBridge,
      failure,
      stop,
    };
  } catch (e) {
    await stop();
    // A part that was still starting when a Ctrl-C stopped the rest goes too.
    await shutdown();
    throw e;
  }
}
