import { type Command, type CommandResult, decodeCommandResult, encodeCommand } from "../messages/command.js";
import { isValidLockId } from "../messages/fields.js";
import { chunkMessage, FrameAssembler } from "./framing.js";
import { COMMAND_CHAR_UUID, DEFAULT_ATT_MTU, INFO_CHAR_UUID, LOCK_SERVICE_UUID, RESULT_CHAR_UUID } from "./gatt.js";

/**
 * The central's side of the lock's GATT service (gatt.ts), one client for every central: the bridge's BLE gateway
 * and the simulated phone. It is pure: the radio is a `GattLink` the caller implements (runtime's noble adapter), and
 * time-outs a `Deadline` the caller hands in, so the same steps run on noble, on a test double, or on a fake clock.
 */

/** The link to the lock went down (or the session was closed) before the answer came. */
export class BleDisconnectedError extends Error {
  readonly code = "disconnected";
  constructor(message: string) {
    super(message);
    this.name = "BleDisconnectedError";
  }
}

/** The peripheral is not the lock wanted: it lacks the lock service, its `info` is no lock id, or another lock's. */
export class BleWrongPeripheralError extends Error {
  readonly code = "wrong_peripheral";
  constructor(message: string) {
    super(message);
    this.name = "BleWrongPeripheralError";
  }
}

/**
 * Bounds `work` to `ms`: rejects when it has not settled by then (runtime's `withTimeout`, which rejects with its
 * BleTimeoutError, or a test's fake clock). `what` says what was waited for.
 */
export type Deadline = <T>(work: Promise<T>, ms: number, what: string) => Promise<T>;

export interface GattClientOptions {
  /** What bounds the open and each request in time. */
  deadline: Deadline;
  /** Budget for the whole open: connect, discovery, reading `info`, subscribing. */
  openTimeoutMs: number;
  /** Per command round trip. */
  requestTimeoutMs: number;
  /** The lock wanted: a peripheral whose `info` reads another id fails the open (BleWrongPeripheralError). */
  lockId?: string;
}

/**
 * One peripheral as the client drives it. A link's operations may never settle once the link is gone (noble's HCI
 * stack calls back no discovery, read or write whose link dropped): the client races each of them with
 * `onDisconnect`, so an implementation need not. Characteristics are named by UUID once `discover` found them.
 */
export interface GattLink {
  /** Whether the link is up now. */
  readonly connected: boolean;
  /** The link's ATT MTU; null until one is negotiated (DEFAULT_ATT_MTU then). */
  readonly mtu: number | null;
  connect(): Promise<void>;
  /** Finds `service` and those of `characteristics` it has; answers the UUIDs found ([] without the service). */
  discover(service: string, characteristics: readonly string[]): Promise<string[]>;
  read(characteristic: string): Promise<Uint8Array>;
  /** A write with response. */
  write(characteristic: string, data: Uint8Array): Promise<void>;
  /** Enables notifications; `listener` gets each one until `unlisten`. */
  subscribe(characteristic: string, listener: (data: Uint8Array) => void): Promise<void>;
  /** Stops handing notifications to the listener (locally: the link may already be gone). */
  unlisten(characteristic: string): void;
  /** Calls `listener` when the link drops; the answer stops listening. */
  onDisconnect(listener: () => void): () => void;
  /**
   * Ends the link, whatever state it is in (a connection still being made, a live one, one gone), and never hangs:
   * the client calls it after a failed open and on close.
   */
  release(): Promise<void>;
}

interface Waiting {
  id: string;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
}

/**
 * An open connection to one lock: framed commands written to `command`, framed results received as notifications on
 * `result`, one request at a time (later ones queue). A dropped link fails the request in flight and every later one
 * at once rather than each waiting out its timeout.
 */
export class GattClient<L extends GattLink = GattLink> {
  private readonly assembler = new FrameAssembler();
  private waiting: Waiting | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private id: string | null = null;
  private closed = true;
  private stopWatching = () => {};

  constructor(
    readonly link: L,
    private readonly options: GattClientOptions,
  ) {}

  /** The lock's id, read from `info` by `open`. */
  get lockId(): string {
    if (this.id === null) throw new Error("the GATT client is not open");
    return this.id;
  }

  /** Whether the link is up and the session open: requests fail at once otherwise. */
  get connected(): boolean {
    return !this.closed;
  }

  /**
   * Connects, finds the lock service, reads the lock id from `info` and subscribes to `result`. A link lost on the way
   * fails the open at once with a BleDisconnectedError; whatever way it fails, the link is released.
   */
  async open(): Promise<this> {
    const { link, options } = this;
    let stopLoss = () => {};
    const lost = new Promise<never>((_, reject) => {
      stopLoss = link.onDisconnect(() =>
        reject(new BleDisconnectedError("the lock disconnected while the session opened")),
      );
    });
    lost.catch(() => {}); // observed by whoever races it; a loss after the open has nobody to tell
    const step = <T>(work: Promise<T>): Promise<T> => {
      work.catch(() => {}); // lost may win the race; what the step does after has nobody to tell
      return Promise.race([work, lost]);
    };
    const steps = async () => {
      await link.connect();
      const found = await step(link.discover(LOCK_SERVICE_UUID, [COMMAND_CHAR_UUID, RESULT_CHAR_UUID, INFO_CHAR_UUID]));
      if (![COMMAND_CHAR_UUID, RESULT_CHAR_UUID, INFO_CHAR_UUID].every((uuid) => found.includes(uuid)))
        throw new BleWrongPeripheralError("the peripheral lacks the lock GATT service");
      const lockId = new TextDecoder().decode(await step(link.read(INFO_CHAR_UUID)));
      if (!isValidLockId(lockId)) throw new BleWrongPeripheralError("the peripheral's info is not a lock id");
      if (options.lockId !== undefined && lockId !== options.lockId)
        throw new BleWrongPeripheralError(`the peripheral is lock ${lockId}, not ${options.lockId}`);
      this.id = lockId;
      await step(link.subscribe(RESULT_CHAR_UUID, (data) => this.notified(data)));
      // From here the client watches the link itself (the open's watch ends below); a link already gone is seen.
      this.closed = false;
      this.stopWatching = link.onDisconnect(() => this.dropped());
      if (!link.connected) this.dropped();
    };
    const what = options.lockId === undefined ? "connecting to a lock" : `connecting to lock ${options.lockId}`;
    try {
      await options.deadline(steps(), options.openTimeoutMs, what);
      return this;
    } catch (e) {
      link.unlisten(RESULT_CHAR_UUID);
      await link.release();
      throw e;
    } finally {
      stopLoss();
    }
  }

  /** Sends one command and waits for its result. */
  request(command: Command): Promise<CommandResult> {
    return this.requestRaw(command.id, encodeCommand(command));
  }

  /** Sends pre-encoded command bytes with the given id (a test's malformed command, a courier's raw relay). */
  requestRaw(id: string, bytes: Uint8Array): Promise<CommandResult> {
    const run = async () => {
      if (this.closed) throw new BleDisconnectedError(`lock ${this.id} disconnected, or the session was closed`);
      const answer = new Promise<CommandResult>((resolve, reject) => {
        this.waiting = { id, resolve, reject };
      });
      answer.catch(() => {}); // observed below; a disconnect during the writes must not surface as unhandled
      const exchange = async () => {
        const writes = (async () => {
          for (const frame of chunkMessage(bytes, this.link.mtu ?? DEFAULT_ATT_MTU))
            await this.link.write(COMMAND_CHAR_UUID, frame);
        })();
        writes.catch(() => {}); // a write failing after the answer settled has nothing left to tell
        // A link that drops leaves its writes uncalled-back; the drop rejects `answer`, which ends the wait at once.
        // The answer may also come before the last Write Response (bleno notifies first).
        await Promise.race([writes, answer]);
        return await answer;
      };
      try {
        const what = `waiting for lock ${this.id} to answer ${id}`;
        return await this.options.deadline(exchange(), this.options.requestTimeoutMs, what);
      } finally {
        this.waiting = null;
        this.assembler.reset();
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Ends the session and the link (waiting for the disconnect only so long). */
  async close(): Promise<void> {
    const wasOpen = !this.closed;
    this.closed = true;
    this.link.unlisten(RESULT_CHAR_UUID);
    this.stopWatching();
    if (wasOpen) await this.link.release();
  }

  private notified(data: Uint8Array): void {
    let message: Uint8Array | null;
    try {
      message = this.assembler.push(data);
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
  }

  private dropped(): void {
    this.closed = true;
    this.link.unlisten(RESULT_CHAR_UUID);
    this.waiting?.reject(new BleDisconnectedError(`lock ${this.id} disconnected`));
  }
}
