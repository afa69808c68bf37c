import { describe, expect, it } from "vitest";
import {
  BleDisconnectedError,
  BleWrongPeripheralError,
  type Deadline,
  GattClient,
  type GattLink,
} from "../src/ble/gatt-client.js";
import {
  COMMAND_CHAR_UUID,
  chunkMessage,
  decodeCommand,
  encodeCommandResult,
  FrameAssembler,
  INFO_CHAR_UUID,
  LOCK_SERVICE_UUID,
  RESULT_CHAR_UUID,
} from "../src/index.js";

/** Time-outs that fire only when the test says so: no waiting. */
class ManualDeadlines {
  private readonly pending = new Set<{ at: number; fire: () => void }>();
  private now = 0;
  readonly deadline: Deadline = (work, ms, what) => {
    let entry = { at: 0, fire: () => {} };
    const timeout = new Promise<never>((_, reject) => {
      entry = { at: this.now + ms, fire: () => reject(new Error(`timed out after ${ms} ms ${what}`)) };
      this.pending.add(entry);
    });
    return Promise.race([work, timeout]).finally(() => this.pending.delete(entry));
  };
  advance(ms: number): void {
    this.now += ms;
    for (const entry of [...this.pending])
      if (entry.at <= this.now) {
        this.pending.delete(entry);
        entry.fire();
      }
  }
  get armed(): number {
    return this.pending.size;
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A lock's GATT service in memory; `hold` keeps a step from ever answering, as noble does on a dropped link. */
class FakeLink implements GattLink {
  connected = false;
  mtu = 23;
  released = 0;
  hold: "discover" | "read" | "answer" | null = null;
  info = "front-door";
  services = [LOCK_SERVICE_UUID];
  private readonly disconnects = new Set<() => void>();
  private listener: ((data: Uint8Array) => void) | null = null;
  private readonly assembler = new FrameAssembler();

  async connect(): Promise<void> {
    this.connected = true;
  }
  discover(service: string, characteristics: readonly string[]): Promise<string[]> {
    if (this.hold === "discover") return new Promise(() => {});
    return Promise.resolve(this.services.includes(service) ? [...characteristics] : []);
  }
  read(characteristic: string): Promise<Uint8Array> {
    if (this.hold === "read") return new Promise(() => {});
    expect(characteristic).toBe(INFO_CHAR_UUID);
    return Promise.resolve(new TextEncoder().encode(this.info));
  }
  async write(characteristic: string, data: Uint8Array): Promise<void> {
    expect(characteristic).toBe(COMMAND_CHAR_UUID);
    expect(data.length).toBeLessThanOrEqual(this.mtu - 3);
    const message = this.assembler.push(data);
    if (message === null || this.hold === "answer") return;
    const { id } = decodeCommand(message);
    const frames = chunkMessage(encodeCommandResult({ id, ok: true, state: "locked" }), this.mtu);
    setImmediate(() => {
      for (const frame of frames) this.listener?.(frame);
    });
  }
  async subscribe(characteristic: string, listener: (data: Uint8Array) => void): Promise<void> {
    expect(characteristic).toBe(RESULT_CHAR_UUID);
    this.listener = listener;
  }
  unlisten(): void {
    this.listener = null;
  }
  onDisconnect(listener: () => void): () => void {
    this.disconnects.add(listener);
    return () => this.disconnects.delete(listener);
  }
  async release(): Promise<void> {
    this.released++;
    this.connected = false;
  }
  drop(): void {
    this.connected = false;
    for (const listener of [...this.disconnects]) listener();
  }
  get watchers(): number {
    return this.disconnects.size;
  }
}

function client(link: FakeLink, clock: ManualDeadlines, lockId?: string): GattClient<FakeLink> {
  const options = { deadline: clock.deadline, openTimeoutMs: 10_000, requestTimeoutMs: 5000 };
  return new GattClient(link, lockId === undefined ? options : { ...options, lockId });
}

describe("GATT client (central side of the lock service)", () => {
  it("opens, reads the lock id and runs framed requests one at a time, each answered by its id", async () => {
    const link = new FakeLink();
    const clock = new ManualDeadlines();
    const session = await client(link, clock).open();
    expect(session.lockId).toBe("front-door");
    expect(session.connected).toBe(true);
    const long = "x".repeat(60); // several frames at ATT MTU 23
    const [a, b] = await Promise.all([
      session.request({ id: long, type: "ping" }),
      session.request({ id: "b", type: "ping" }),
    ]);
    expect(a).toMatchObject({ id: long, ok: true });
    expect(b).toMatchObject({ id: "b", ok: true });
    expect(clock.armed).toBe(0);
    await session.close();
    expect(link.released).toBe(1);
    expect(link.watchers).toBe(0);
  });

  it("a link dropped during discovery fails the open at once with a typed error, and releases the link", async () => {
    const link = new FakeLink();
    const clock = new ManualDeadlines();
    link.hold = "discover";
    const opening = client(link, clock).open();
    await tick();
    link.drop();
    await expect(opening).rejects.toBeInstanceOf(BleDisconnectedError);
    expect(link.released).toBe(1);
    expect(link.watchers).toBe(0);
    expect(clock.armed).toBe(0);
  });

  it("a link dropped while reading info fails the open the same way", async () => {
    const link = new FakeLink();
    link.hold = "read";
    const opening = client(link, new ManualDeadlines()).open();
    await tick();
    link.drop();
    await expect(opening).rejects.toMatchObject({ code: "disconnected" });
  });

  it("an open that never completes times out, and the link is released", async () => {
    const link = new FakeLink();
    const clock = new ManualDeadlines();
    link.hold = "discover";
    const opening = client(link, clock, "front-door").open();
    await tick();
    clock.advance(10_000);
    await expect(opening).rejects.toThrow("timed out after 10000 ms connecting to lock front-door");
    expect(link.released).toBe(1);
  });

  it("a peripheral without the service, with no lock id, or another lock's is the wrong peripheral", async () => {
    const clock = new ManualDeadlines();
    const bare = new FakeLink();
    bare.services = [];
    await expect(client(bare, clock).open()).rejects.toBeInstanceOf(BleWrongPeripheralError);
    const garbled = new FakeLink();
    garbled.info = "not a lock id!";
    await expect(client(garbled, clock).open()).rejects.toBeInstanceOf(BleWrongPeripheralError);
    const other = new FakeLink();
    await expect(client(other, clock, "back-door").open()).rejects.toMatchObject({ code: "wrong_peripheral" });
    expect([bare.released, garbled.released, other.released]).toEqual([1, 1, 1]);
  });

  it("a dropped link fails the request in flight and every later one at once", async () => {
    const link = new FakeLink();
    const session = await client(link, new ManualDeadlines()).open();
    link.hold = "answer";
    const pending = session.request({ id: "p", type: "ping" });
    await tick();
    link.drop();
    await expect(pending).rejects.toBeInstanceOf(BleDisconnectedError);
    expect(session.connected).toBe(false);
    await expect(session.request({ id: "q", type: "ping" })).rejects.toThrow(/disconnected/);
  });

  it("a request the lock does not answer times out; the next one is read from a clean frame", async () => {
    const link = new FakeLink();
    const clock = new ManualDeadlines();
    const session = await client(link, clock).open();
    link.hold = "answer";
    const pending = session.request({ id: "p", type: "ping" });
    await tick();
    clock.advance(5000);
    await expect(pending).rejects.toThrow(/timed out after 5000 ms waiting for lock front-door to answer p/);
    link.hold = null;
    expect(await session.request({ id: "q", type: "ping" })).toMatchObject({ id: "q", ok: true });
  });
});
