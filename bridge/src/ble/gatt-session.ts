import { once } from "node:events";
import {
  COMMAND_CHAR_UUID,
  type CommandResult,
  chunkMessage,
  DEFAULT_ATT_MTU,
  decodeCommandResult,
  FrameAssembler,
  INFO_CHAR_UUID,
  isValidLockId,
  LOCK_SERVICE_UUID,
  RESULT_CHAR_UUID,
} from "@latchkey/protocol";
import type { Characteristic, Peripheral, Service } from "./noble-loader.js";

export class BleTimeoutError extends Error {
  readonly code = "timeout";
}

/** The link to the lock went down (or the session was closed) before the answer came. */
export class BleDisconnectedError extends Error {
  readonly code = "disconnected";
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BleTimeoutError(`timed out after ${ms} ms ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** How long clean-up waits for a disconnect to complete before giving up on it. */
const ABANDON_MS = 2000;

/**
 * Ends what a failed `open` left. noble disconnects by connection handle, and neither a connection still being
 * created nor one whose link is already gone has one: `disconnectAsync` would send Disconnect for no handle and wait
 * for an event that never comes (the round hung there for ever). A pending attempt is cancelled instead (LE Create
 * Connection Cancel), or noble would keep it, queueing every later connect behind it; should the connection complete
 * as the cancel crosses it, it is disconnected, or the lock, which takes one connection at a time, would stay held by
 * nobody. Only a live link is disconnected, waited for only so long. Found on noble's real stack over emulated
 * controllers (test/site/ble-hci.test.ts), as lock-sim/src/ble/central.ts found the first case.
 */
async function abandon(peripheral: Peripheral): Promise<void> {
  if (peripheral.state === "connecting") {
    // noble answers the cancel at once with a failed `connect`; the controller's LE Connection Complete follows.
    peripheral.cancelConnect();
    const late = (error?: Error) => {
      if (!error) void withTimeout(peripheral.disconnectAsync(), ABANDON_MS, "disconnecting").catch(() => {});
    };
    peripheral.once("connect", late);
    setTimeout(() => peripheral.removeListener("connect", late), ABANDON_MS).unref();
    return;
  }
  if (peripheral.state === "connected")
    await withTimeout(peripheral.disconnectAsync(), ABANDON_MS, "disconnecting").catch(() => {});
}

/** Rejects when `peripheral` disconnects; `off` stops listening. */
function linkLoss(peripheral: Peripheral, what: () => string): { lost: Promise<never>; off: () => void } {
  let onDisconnect = () => {};
  const lost = new Promise<never>((_, reject) => {
    onDisconnect = () => reject(new BleDisconnectedError(what()));
    peripheral.once("disconnect", onDisconnect);
  });
  lost.catch(() => {}); // observed by whoever races it; a loss after they are done has nobody to tell
  return { lost, off: () => peripheral.removeListener("disconnect", onDisconnect) };
}

/**
 * One GATT connection to a lock (protocol/ble/gatt.ts): framed commands written to `command`, framed results
 * received as notifications on `result`, one request at a time. A dropped link fails the request in flight and every
 * later one at once: noble's HCI stack never calls back a write (or a discovery, or a read) whose link is gone, so
 * they would otherwise each wait out the command timeout.
 */
export class GattSession {
  private readonly assembler = new FrameAssembler();
  private waiting: { id: string; resolve: (r: CommandResult) => void; reject: (e: Error) => void } | null = null;
  private readonly onData: (data: Buffer, isNotification: boolean) => void;
  private readonly onDisconnect: () => void;
  private closed = false;

  private constructor(
    private readonly peripheral: Peripheral,
    readonly lockId: string,
    private readonly command: Characteristic,
    private readonly result: Characteristic,
    private readonly timeoutMs: number,
  ) {
    this.onData = (data, isNotification) => {
      if (!isNotification) return;
      let message: Uint8Array | null;
      try {
        message = this.assembler.push(new Uint8Array(data));
      } catch {
        return; // a broken frame sequence: the request times out
      }
      if (message === null) return;
      try {
        const decoded = decodeCommandResult(message);
        if (this.waiting?.id === decoded.id) this.waiting.resolve(decoded);
      } catch {
        // not a result: ignored, the request times out
      }
    };
    this.onDisconnect = () => {
      this.closed = true;
      this.result.removeListener("data", this.onData);
      this.waiting?.reject(new BleDisconnectedError(`lock ${this.lockId} disconnected`));
    };
  }

  /** Whether the link is up and the session open: requests fail at once otherwise. */
  get connected(): boolean {
    return !this.closed;
  }

  /** Connects, finds the lock service and reads the lock id from `info`. */
  static async open(peripheral: Peripheral, timeoutMs: number): Promise<GattSession> {
    // A link lost during discovery or the read fails the open at once, as it does a request.
    const loss = linkLoss(peripheral, () => "the lock disconnected while the session opened");
    const ended = new AbortController();
    const steps = async () => {
      await peripheral.connectAsync();
      // Not discoverSomeServicesAndCharacteristicsAsync: its listener for the services stays on the peripheral
      // object, which noble keeps across connections, when the link drops before they come. At the next connection
      // it fires too and starts a second discovery of the same service, whose characteristics replace this session's
      // in noble's tables: the `info` read is then answered on the air but never resolves (found on noble's real
      // stack, test/site/ble-hci.test.ts). This listener goes when the open ends, however it ends.
      const found = once(peripheral, "servicesDiscover", { signal: ended.signal }) as Promise<[Service[]]>;
      found.catch(() => {}); // raced below; rejected (abort) only once the open is over
      peripheral.discoverServices([LOCK_SERVICE_UUID]);
      const [services] = await Promise.race([found, loss.lost]);
      const service = services.find((x) => x.uuid === LOCK_SERVICE_UUID);
      if (!service) throw new Error("the peripheral lacks the lock GATT service");
      // Services are new objects at every discovery: a listener left on this one by a dropped link harms no other.
      const characteristics = await Promise.race([
        service.discoverCharacteristicsAsync([COMMAND_CHAR_UUID, RESULT_CHAR_UUID, INFO_CHAR_UUID]),
        loss.lost,
      ]);
      const find = (uuid: string) => characteristics.find((c) => c.uuid === uuid);
      const command = find(COMMAND_CHAR_UUID);
      const result = find(RESULT_CHAR_UUID);
      const info = find(INFO_CHAR_UUID);
      if (!command || !result || !info) throw new Error("the peripheral lacks the lock GATT service");
      const lockId = (await Promise.race([info.readAsync(), loss.lost])).toString("utf8");
      if (!isValidLockId(lockId)) throw new Error("the peripheral's info is not a lock id");
      const session = new GattSession(peripheral, lockId, command, result, timeoutMs);
      result.on("data", session.onData);
      await Promise.race([result.subscribeAsync(), loss.lost]);
      // From here the session watches the link itself (the open's watch ends below); a link already gone is seen.
      peripheral.once("disconnect", session.onDisconnect);
      if (peripheral.state !== "connected") session.onDisconnect();
      return session;
    };
    try {
      return await withTimeout(steps(), timeoutMs, "connecting to a lock");
    } catch (e) {
      await abandon(peripheral);
      throw e;
    } finally {
      loss.off();
      ended.abort();
    }
  }

  /** Sends encoded command bytes with id `id`; resolves with the lock's result. */
  async request(id: string, bytes: Uint8Array): Promise<CommandResult> {
    if (this.closed) throw new BleDisconnectedError(`lock ${this.lockId} disconnected, or the session was closed`);
    if (this.waiting) throw new Error("one request at a time");
    const answer = new Promise<CommandResult>((resolve, reject) => {
      this.waiting = { id, resolve, reject };
    });
    answer.catch(() => {}); // observed below; a disconnect during the writes must not surface as unhandled
    try {
      const exchange = async () => {
        const mtu = this.peripheral.mtu ?? DEFAULT_ATT_MTU;
        const writes = (async () => {
          for (const frame of chunkMessage(bytes, mtu)) await this.command.writeAsync(Buffer.from(frame), false);
        })();
        writes.catch(() => {}); // a write failing after the answer settled has nothing left to tell
        // The writes race the answer, which a disconnect rejects: noble never calls back a write whose link is gone.
        // The answer may also come before the last Write Response (bleno notifies first).
        await Promise.race([writes, answer]);
        return await answer;
      };
      return await withTimeout(exchange(), this.timeoutMs, `waiting for lock ${this.lockId} to answer ${id}`);
    } finally {
      this.waiting = null;
      this.assembler.reset();
    }
  }

  async close(): Promise<void> {
    const wasOpen = !this.closed;
    this.closed = true;
    this.result.removeListener("data", this.onData);
    this.peripheral.removeListener("disconnect", this.onDisconnect);
    if (wasOpen && this.peripheral.state === "connected")
      await withTimeout(this.peripheral.disconnectAsync(), ABANDON_MS, "disconnecting").catch(() => {});
  }
}
