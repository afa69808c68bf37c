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
import type { Characteristic, Peripheral } from "./noble-loader.js";

export class BleTimeoutError extends Error {
  readonly code = "timeout";
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BleTimeoutError(`timed out after ${ms} ms ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One GATT connection to a lock (protocol/ble/gatt.ts): framed commands written to `command`, framed results
 * received as notifications on `result`, one request at a time.
 */
export class GattSession {
  private readonly assembler = new FrameAssembler();
  private waiting: { id: string; resolve: (r: CommandResult) => void } | null = null;
  private readonly onData: (data: Buffer, isNotification: boolean) => void;

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
  }

  /** Connects, finds the lock service and reads the lock id from `info`. */
  static async open(peripheral: Peripheral, timeoutMs: number): Promise<GattSession> {
    const steps = async () => {
      await peripheral.connectAsync();
      const { characteristics } = await peripheral.discoverSomeServicesAndCharacteristicsAsync(
        [LOCK_SERVICE_UUID],
        [COMMAND_CHAR_UUID, RESULT_CHAR_UUID, INFO_CHAR_UUID],
      );
      const find = (uuid: string) => characteristics.find((c) => c.uuid === uuid);
      const command = find(COMMAND_CHAR_UUID);
      const result = find(RESULT_CHAR_UUID);
      const info = find(INFO_CHAR_UUID);
      if (!command || !result || !info) throw new Error("the peripheral lacks the lock GATT service");
      const lockId = (await info.readAsync()).toString("utf8");
      if (!isValidLockId(lockId)) throw new Error("the peripheral's info is not a lock id");
      const session = new GattSession(peripheral, lockId, command, result, timeoutMs);
      result.on("data", session.onData);
      await result.subscribeAsync();
      return session;
    };
    try {
      return await withTimeout(steps(), timeoutMs, "connecting to a lock");
    } catch (e) {
      await peripheral.disconnectAsync().catch(() => {});
      throw e;
    }
  }

  /** Sends encoded command bytes with id `id`; resolves with the lock's result. */
  async request(id: string, bytes: Uint8Array): Promise<CommandResult> {
    if (this.waiting) throw new Error("one request at a time");
    const answer = new Promise<CommandResult>((resolve) => {
      this.waiting = { id, resolve };
    });
    try {
      const exchange = async () => {
        const mtu = this.peripheral.mtu ?? DEFAULT_ATT_MTU;
        for (const frame of chunkMessage(bytes, mtu)) await this.command.writeAsync(Buffer.from(frame), false);
        return await answer;
      };
      return await withTimeout(exchange(), this.timeoutMs, `waiting for lock ${this.lockId} to answer ${id}`);
    } finally {
      this.waiting = null;
      this.assembler.reset();
    }
  }

  async close(): Promise<void> {
    this.result.removeListener("data", this.onData);
    if (this.peripheral.state === "connected") await this.peripheral.disconnectAsync().catch(() => {});
  }
}
