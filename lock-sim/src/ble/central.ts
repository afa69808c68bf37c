import {
  ADVERTISED_NAME_PREFIX,
  COMMAND_CHAR_UUID,
  type Command,
  type CommandResult,
  chunkMessage,
  DEFAULT_ATT_MTU,
  decodeCommandResult,
  encodeCommand,
  FrameAssembler,
  INFO_CHAR_UUID,
  LOCK_SERVICE_UUID,
  RESULT_CHAR_UUID,
} from "@latchkey/protocol";
import type { Characteristic, Noble, Peripheral } from "./noble-loader.js";

/**
 * A BLE central that talks to a latchkey lock through noble's public API only (startScanningAsync, on("discover"),
 * connectAsync, discoverSomeServicesAndCharacteristicsAsync, readAsync, subscribeAsync, on("data"), writeAsync), so
 * the same code drives a real adapter or a VirtualRadio. Used by the simulated phone; a bridge's BLE gateway does the
 * same steps (`ping`, `state`, `time_request`/`time_answer`, `reports`: docs/trust.md "Lock").
 */
export class BleTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`timed out after ${ms} ms ${what}`);
    this.name = "BleTimeoutError";
  }
}

export interface ConnectOptions {
  /** Whole budget for finding and connecting (default 10 s). */
  timeoutMs?: number;
  /** Per command round trip (default 5 s). */
  requestTimeoutMs?: number;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BleTimeoutError(what, ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function poweredOn(noble: Noble, ms: number): Promise<void> {
  // noble's typings name only `_state`; the public `state` getter also starts the bindings.
  if ((noble as unknown as { state: string }).state === "poweredOn") return;
  await withTimeout(
    new Promise<void>((resolve) => {
      const onState = (state: string) => {
        if (state !== "poweredOn") return;
        noble.removeListener("stateChange", onState);
        resolve();
      };
      noble.on("stateChange", onState);
    }),
    ms,
    "waiting for the Bluetooth adapter to power on",
  );
}

/** Whether an advertised name can be this lock's (names are truncated by the radio). */
function mayBe(peripheral: Peripheral, lockId: string): boolean {
  const name = peripheral.advertisement?.localName;
  return (
    typeof name === "string" &&
    name.startsWith(ADVERTISED_NAME_PREFIX) &&
    `${ADVERTISED_NAME_PREFIX}${lockId}`.startsWith(name)
  );
}

/** Scans for the lock's service and connects to the peripheral whose `info` reads `lockId`. */
export async function connectToLock(noble: Noble, lockId: string, options: ConnectOptions = {}): Promise<LockSession> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  await poweredOn(noble, timeoutMs);
  const candidates: Peripheral[] = [];
  let wake: (() => void) | null = null;
  const onDiscover = (p: Peripheral) => {
    if (!mayBe(p, lockId)) return;
    candidates.push(p);
    wake?.();
  };
  noble.on("discover", onDiscover);
  try {
    await noble.startScanningAsync([LOCK_SERVICE_UUID], false);
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new BleTimeoutError(`looking for lock ${lockId}`, timeoutMs);
      const next = candidates.shift();
      if (next === undefined) {
        await withTimeout(new Promise<void>((r) => (wake = r)), left, `looking for lock ${lockId}`).catch((e) => {
          throw e instanceof BleTimeoutError ? new BleTimeoutError(`looking for lock ${lockId}`, timeoutMs) : e;
        });
        continue;
      }
      const session = await LockSession.open(next, lockId, Math.max(1, deadline - Date.now()), options);
      if (session !== null) return session;
    }
  } finally {
    noble.removeListener("discover", onDiscover);
    await noble.stopScanningAsync().catch(() => {});
  }
}

/**
 * Ends what a failed attempt left. noble disconnects by connection handle, and a connection still being created has
 * none: `disconnectAsync` would send Disconnect for no handle and wait for an event that never comes, and noble would
 * keep the attempt pending, queueing every later connect behind it. So a pending attempt is cancelled (LE Create
 * Connection Cancel), and a disconnect is waited for only so long (found on real stacks, test/hci-stacks.test.ts).
 */
async function abandon(peripheral: Peripheral): Promise<void> {
  if (peripheral.state === "connecting") {
    peripheral.cancelConnect();
    return;
  }
  if (peripheral.state === "connected")
    await withTimeout(peripheral.disconnectAsync(), ABANDON_MS, "disconnecting").catch(() => {});
}

/** How long a failed attempt waits for its disconnect to complete before giving up on it. */
const ABANDON_MS = 2000;

/** An open connection to one lock: request/response over the command and result characteristics. */
export class LockSession {
  private readonly assembler = new FrameAssembler();
  private readonly pending = new Map<string, { resolve: (r: CommandResult) => void; reject: (e: Error) => void }>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly onData: (data: Buffer, isNotification: boolean) => void;
  private readonly onDisconnect: () => void;
  private closed = false;

  private constructor(
    readonly peripheral: Peripheral,
    readonly lockId: string,
    private readonly command: Characteristic,
    private readonly result: Characteristic,
    private readonly requestTimeoutMs: number,
  ) {
    this.onData = (data, isNotification) => {
      if (!isNotification) return;
      let message: Uint8Array | null;
      try {
        message = this.assembler.push(new Uint8Array(data));
      } catch {
        return; // a broken frame sequence: the pending request times out
      }
      if (message === null) return;
      let decoded: CommandResult;
      try {
        decoded = decodeCommandResult(message);
      } catch {
        return;
      }
      this.pending.get(decoded.id)?.resolve(decoded);
    };
    this.onDisconnect = () => {
      this.closed = true;
      this.result.removeListener("data", this.onData);
      const error = new Error(`lock ${this.lockId} disconnected`);
      for (const p of this.pending.values()) p.reject(error);
    };
    peripheral.once("disconnect", this.onDisconnect);
  }

  /** Connects and checks the peripheral is `lockId`; null (and disconnected) when it is another lock. */
  static async open(
    peripheral: Peripheral,
    lockId: string,
    timeoutMs: number,
    options: ConnectOptions,
  ): Promise<LockSession | null> {
    const steps = async (): Promise<LockSession | null> => {
      await peripheral.connectAsync();
      const { characteristics } = await peripheral.discoverSomeServicesAndCharacteristicsAsync(
        [LOCK_SERVICE_UUID],
        [COMMAND_CHAR_UUID, RESULT_CHAR_UUID, INFO_CHAR_UUID],
      );
      const find = (uuid: string) => characteristics.find((c) => c.uuid === uuid);
      const command = find(COMMAND_CHAR_UUID);
      const result = find(RESULT_CHAR_UUID);
      const info = find(INFO_CHAR_UUID);
      if (command === undefined || result === undefined || info === undefined) {
        await peripheral.disconnectAsync();
        return null;
      }
      const id = (await info.readAsync()).toString("utf8");
      if (id !== lockId) {
        await peripheral.disconnectAsync();
        return null;
      }
      const session = new LockSession(peripheral, lockId, command, result, options.requestTimeoutMs ?? 5000);
      result.on("data", session.onData);
      await result.subscribeAsync();
      return session;
    };
    try {
      return await withTimeout(steps(), timeoutMs, `connecting to lock ${lockId}`);
    } catch (e) {
      await abandon(peripheral);
      throw e;
    }
  }

  /** Sends one command and waits for its result; requests on a session run one at a time. */
  request(cmd: Command): Promise<CommandResult> {
    return this.requestRaw(cmd.id, encodeCommand(cmd));
  }

  /** Sends pre-encoded command bytes with the given id (a test's malformed command, a courier's raw relay). */
  requestRaw(id: string, bytes: Uint8Array): Promise<CommandResult> {
    const run = async () => {
      if (this.closed) throw new Error(`lock ${this.lockId} disconnected, or the session was closed`);
      const answer = new Promise<CommandResult>((resolve, reject) => this.pending.set(id, { resolve, reject }));
      answer.catch(() => {}); // observed below; a disconnect during the writes must not surface as unhandled
      const exchange = async () => {
        const mtu = this.peripheral.mtu ?? DEFAULT_ATT_MTU;
        const writes = (async () => {
          for (const frame of chunkMessage(bytes, mtu)) await this.command.writeAsync(Buffer.from(frame), false);
        })();
        writes.catch(() => {}); // a write failing after the answer settled has nothing left to tell
        // noble's HCI stack never calls back a write whose link is gone, so the writes alone would hang until the
        // request timeout: the disconnect rejects `answer`, which ends the wait at once (found on real stacks,
        // test/hci-stacks.test.ts). The answer may also come before the last Write Response: bleno notifies first.
        await Promise.race([writes, answer]);
        return await answer;
      };
      try {
        return await withTimeout(exchange(), this.requestTimeoutMs, `waiting for lock ${this.lockId} to answer ${id}`);
      } finally {
        this.pending.delete(id);
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.result.removeListener("data", this.onData);
    this.peripheral.removeListener("disconnect", this.onDisconnect);
    if (this.peripheral.state === "connected") await this.peripheral.disconnectAsync().catch(() => {});
  }
}
