import { once } from "node:events";
import type { Characteristic, Peripheral, Service } from "./noble.js";
import { withTimeout } from "./timeout.js";

/** How long releasing a link waits for its disconnect to complete before giving up on it. */
const RELEASE_MS = 2000;

/**
 * One noble peripheral as @latchkey/protocol/ble's GattClient drives it (its `GattLink`), through noble's public API
 * only, so the same code runs on a real adapter, on emulated controllers and on a VirtualRadio's bindings.
 */
export class NobleGattLink {
  private readonly characteristics = new Map<string, Characteristic>();
  private readonly listeners = new Map<string, (data: Buffer, isNotification: boolean) => void>();
  /** Aborted on release: a discovery still waiting stops listening. */
  private readonly released = new AbortController();

  constructor(readonly peripheral: Peripheral) {}

  get connected(): boolean {
    return this.peripheral.state === "connected";
  }

  get mtu(): number | null {
    return this.peripheral.mtu ?? null;
  }

  async connect(): Promise<void> {
    await this.peripheral.connectAsync();
  }

  async discover(service: string, characteristics: readonly string[]): Promise<string[]> {
    const { peripheral } = this;
    // Not discoverSomeServicesAndCharacteristicsAsync: its listener for the services stays on the peripheral object,
    // which noble keeps across connections, when the link drops before they come. At the next connection it fires too
    // and starts a second discovery of the same service, whose characteristics replace this session's in noble's
    // tables: the `info` read is then answered on the air but never resolves (found on noble's real stack,
    // test/site/ble.test.ts). This listener goes when the discovery ends, the link drops or the link is released.
    const ended = new AbortController();
    const drop = () => ended.abort();
    peripheral.once("disconnect", drop);
    try {
      const found = once(peripheral, "servicesDiscover", {
        signal: AbortSignal.any([ended.signal, this.released.signal]),
      }) as Promise<[Service[]]>;
      peripheral.discoverServices([service]);
      const [services] = await found;
      const lock = services.find((x) => x.uuid === service);
      if (!lock) return [];
      // Services are new objects at every discovery: a listener left on this one by a dropped link harms no other.
      for (const c of await lock.discoverCharacteristicsAsync([...characteristics]))
        this.characteristics.set(c.uuid, c);
      return characteristics.filter((uuid) => this.characteristics.has(uuid));
    } finally {
      peripheral.removeListener("disconnect", drop);
      ended.abort();
    }
  }

  async read(characteristic: string): Promise<Uint8Array> {
    return this.found(characteristic).readAsync();
  }

  async write(characteristic: string, data: Uint8Array): Promise<void> {
    await this.found(characteristic).writeAsync(Buffer.from(data), false);
  }

  async subscribe(characteristic: string, listener: (data: Uint8Array) => void): Promise<void> {
    const c = this.found(characteristic);
    this.unlisten(characteristic);
    const onData = (data: Buffer, isNotification: boolean) => {
      if (isNotification) listener(new Uint8Array(data));
    };
    this.listeners.set(characteristic, onData);
    c.on("data", onData);
    await c.subscribeAsync();
  }

  unlisten(characteristic: string): void {
    const onData = this.listeners.get(characteristic);
    if (onData === undefined) return;
    this.listeners.delete(characteristic);
    this.characteristics.get(characteristic)?.removeListener("data", onData);
  }

  onDisconnect(listener: () => void): () => void {
    this.peripheral.once("disconnect", listener);
    return () => this.peripheral.removeListener("disconnect", listener);
  }

  /**
   * noble disconnects by connection handle, and neither a connection still being created nor one whose link is
   * already gone has one: `disconnectAsync` would send Disconnect for no handle and wait for an event that never comes
   * (a gateway round hung there for ever). A pending attempt is cancelled instead (LE Create Connection Cancel), or
   * noble would keep it, queueing every later connect behind it; should the connection complete as the cancel crosses
   * it, it is disconnected, or the lock, which takes one connection at a time, would stay held by nobody. Only a live
   * link is disconnected, waited for only so long. Found on noble's real stack over emulated controllers
   * (lock-sim/test/hci-stacks.test.ts, test/site/ble.test.ts).
   */
  async release(): Promise<void> {
    this.released.abort();
    const { peripheral } = this;
    if (peripheral.state === "connecting") {
      // noble answers the cancel at once with a failed `connect`; the controller's LE Connection Complete follows.
      peripheral.cancelConnect();
      const late = (error?: Error) => {
        if (!error) void withTimeout(peripheral.disconnectAsync(), RELEASE_MS, "disconnecting").catch(() => {});
      };
      peripheral.once("connect", late);
      setTimeout(() => peripheral.removeListener("connect", late), RELEASE_MS).unref();
      return;
    }
    if (peripheral.state === "connected")
      await withTimeout(peripheral.disconnectAsync(), RELEASE_MS, "disconnecting").catch(() => {});
  }

  private found(characteristic: string): Characteristic {
    const c = this.characteristics.get(characteristic);
    if (c === undefined) throw new Error(`characteristic ${characteristic} was not discovered`);
    return c;
  }
}
