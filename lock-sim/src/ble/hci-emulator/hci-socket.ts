import type { EmulatedController } from "./controller.js";
import { hciFilterPasses } from "./hci-filter.js";
import { errnoError, HciSocketSurface } from "./hci-socket-surface.js";

/**
 * The object `@abandonware/bluetooth-hci-socket` exports, over emulated controllers instead of a Linux HCI socket:
 * `bindRaw`/`bindUser`/`bindControl`, `setFilter`, `start`/`stop`, `write`, `isDevUp`, `getDeviceList`, and `data`
 * and `error` events. noble's and bleno's hci.js construct it with no arguments, so a class is made per set of
 * adapters (`emulatedHciSocketClass`), and device ids select among them as NOBLE_HCI_DEVICE_ID / BLENO_HCI_DEVICE_ID
 * select among a host's adapters.
 *
 * Raw-socket behaviour kept: every raw socket bound to a controller sees its events and ACL data through its own
 * filter (`hci_filter`: packet type mask, event mask, opcode), and sees the commands other sockets write to it
 * (noble watches LE Set Scan Enable that way). A user-channel socket (HCI_CHANNEL_USER) is exclusive. A management
 * socket (`bindControl`, bleno's mgmt.js) is accepted and its writes ignored: the kernel's management interface is
 * not emulated.
 */
export interface HciDevice {
  devId: number | null;
  devUp: boolean | null;
  idVendor: number | null;
  idProduct: number | null;
  busNumber: number | null;
  deviceAddress: number | null;
}

/** The emulated adapters of this process, by device id (hci0, hci1, …). */
export class EmulatedAdapters {
  private readonly byId = new Map<number, EmulatedController>();

  constructor(controllers: EmulatedController[] = []) {
    controllers.forEach((c, i) => {
      this.byId.set(i, c);
    });
  }

  /** Adds a controller at `devId` (default: the next free one) and returns its device id. */
  add(controller: EmulatedController, devId?: number): number {
    let id = devId ?? 0;
    if (devId === undefined) while (this.byId.has(id)) id++;
    else if (this.byId.has(id)) throw new Error(`device hci${id} already exists`);
    this.byId.set(id, controller);
    return id;
  }

  get(devId: number): EmulatedController | undefined {
    return this.byId.get(devId);
  }

  /** `devId`'s controller, or without one the first that is up (as the native binding picks). */
  resolve(devId: number | undefined): { devId: number; controller: EmulatedController } | undefined {
    if (devId !== undefined && devId !== null && !Number.isNaN(devId)) {
      const controller = this.byId.get(devId);
      return controller === undefined ? undefined : { devId, controller };
    }
    const ids = [...this.byId.keys()].sort((a, b) => a - b);
    const id = ids.find((i) => this.byId.get(i)!.isUp) ?? ids[0];
    return id === undefined ? undefined : { devId: id, controller: this.byId.get(id)! };
  }

  devices(): HciDevice[] {
    return [...this.byId.entries()]
      .sort(([a], [b]) => a - b)
      .map(([devId, c]) => ({
        devId,
        devUp: c.isUp,
        idVendor: null,
        idProduct: null,
        busNumber: null,
        deviceAddress: null,
      }));
  }
}

/** Controllers a user-channel socket holds (exclusive, across every socket class). */
const userChannels = new WeakSet<EmulatedController>();

export class EmulatedHciSocket extends HciSocketSurface {
  constructor(private readonly adapters: EmulatedAdapters) {
    super();
  }

  private controller: EmulatedController | null = null;
  private readonly onPacket = (packet: Buffer) => this.deliver(packet);
  private readonly onCommand = (packet: Buffer, origin: unknown) => {
    if (origin !== this && this.mode === "raw") this.deliver(packet);
  };

  getDeviceList(): HciDevice[] {
    return this.adapters.devices();
  }

  isDevUp(): boolean {
    return this.controller?.isUp ?? false;
  }

  protected bind(mode: "raw" | "user", devId: number | undefined): number {
    const found = this.adapters.resolve(devId);
    if (found === undefined) throw errnoError("ENODEV", "No such device");
    if (mode === "user") {
      if (userChannels.has(found.controller)) throw errnoError("EBUSY", "Device or resource busy");
      userChannels.add(found.controller);
    }
    this.unbind();
    this.mode = mode;
    this.controller = found.controller;
    found.controller.on("packet", this.onPacket);
    found.controller.on("command", this.onCommand);
    return found.devId;
  }

  private unbind(): void {
    if (this.controller === null) return;
    this.controller.removeListener("packet", this.onPacket);
    this.controller.removeListener("command", this.onCommand);
    if (this.mode === "user") userChannels.delete(this.controller);
    this.controller = null;
  }

  /** Lets go of the device, as closing the socket's fd does (not in the native surface: for tests and shutdown). */
  close(): void {
    this.started = false;
    this.unbind();
  }

  write(data: Buffer): void {
    if (this.mode === "control") return; // management commands: not emulated
    const controller = this.controller;
    if (controller === null) {
      this.emit("error", errnoError("EBADFD", "File descriptor in bad state"));
      return;
    }
    if (!controller.isUp && this.mode === "raw") {
      this.emit("error", errnoError("ENETDOWN", "Network is down"));
      return;
    }
    controller.write(data, this);
  }

  private deliver(packet: Buffer): void {
    if (!this.started || !this.passes(packet)) return;
    try {
      this.emit("data", Buffer.from(packet));
    } catch (e) {
      // A host that throws on a packet would crash the process from a native socket too; rethrow it there,
      // after the controller has finished delivering.
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  /** What the kernel's hci_sock filter lets through (a user channel is unfiltered). */
  private passes(packet: Buffer): boolean {
    return this.filter === null || this.mode === "user" || hciFilterPasses(this.filter, packet);
  }
}

export type EmulatedHciSocketClass = new () => EmulatedHciSocket;

/** The socket class noble and bleno will construct, bound to these adapters (or to one controller as hci0). */
export function emulatedHciSocketClass(target: EmulatedAdapters | EmulatedController): EmulatedHciSocketClass {
  const adapters = target instanceof EmulatedAdapters ? target : new EmulatedAdapters([target]);
  return class extends EmulatedHciSocket {
    constructor() {
      super(adapters);
    }
  };
}
