import net from "node:net";
import { H4StreamParser, HciCodecError } from "./hci-codec.js";
import { hciFilterPasses } from "./hci-filter.js";
import { errnoError, HciSocketSurface } from "./hci-socket-surface.js";

/**
 * The bluetooth-hci-socket surface over an H4 byte stream on a loopback TCP or unix socket, to a controller that an
 * `H4Server` (h4-server.ts) hosts on its air in another process. H4 (Core Vol 4 Part A) is what a UART HCI carries:
 * the same packets a Linux HCI socket reads and writes, one after another, each with its indicator byte, so the
 * process at this end runs no emulator code, only this transport.
 *
 * This file, hci-codec.ts, hci-filter.ts and hci-socket-surface.ts import nothing else from lock-sim, so a package that must not depend on
 * lock-sim (the bridge) can carry its own copy; see the lock-sim README, "BLE on real stacks".
 */
export interface H4Address {
  /** What `net.connect` takes. */
  connect: net.NetConnectOpts;
  text: string;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/**
 * "tcp://127.0.0.1:9000" or "unix:/run/latchkey/hci.sock". TCP is loopback only: whoever reaches the port drives a
 * radio, so it is never opened to a network.
 */
export function parseH4Address(address: string): H4Address {
  if (address.startsWith("unix:")) {
    const path = address.slice("unix:".length);
    if (path === "") throw new TypeError(`H4 address "${address}" names no socket path`);
    return { connect: { path }, text: address };
  }
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TypeError(`H4 address "${address}" is neither tcp://host:port nor unix:/path`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (url.protocol !== "tcp:" || url.port === "")
    throw new TypeError(`H4 address "${address}" is neither tcp://host:port nor unix:/path`);
  if (!LOOPBACK.has(host)) throw new TypeError(`H4 address "${address}": only loopback hosts (127.0.0.1, ::1)`);
  return { connect: { host, port: Number(url.port) }, text: address };
}

export class H4HciSocket extends HciSocketSurface {
  private socket: net.Socket | null = null;
  private state: "idle" | "connecting" | "open" | "closed" = "idle";
  private readonly parser = new H4StreamParser();

  constructor(private readonly address: H4Address) {
    super();
  }

  getDeviceList(): {
    devId: number;
    devUp: boolean;
    idVendor: null;
    idProduct: null;
    busNumber: null;
    deviceAddress: null;
  }[] {
    return [{ devId: 0, devUp: this.isDevUp(), idVendor: null, idProduct: null, busNumber: null, deviceAddress: null }];
  }

  /** Up while connecting or connected: commands written meanwhile wait in the socket until it opens. */
  isDevUp(): boolean {
    return this.state === "connecting" || this.state === "open";
  }

  write(data: Buffer): void {
    if (this.mode === "control") return; // management commands: not carried
    if (this.socket === null || !this.isDevUp()) {
      this.emit("error", errnoError("ENETDOWN", "Network is down"));
      return;
    }
    this.socket.write(data);
  }

  /** Ends the connection (the controller at the other end leaves the air). */
  close(): void {
    this.state = "closed";
    this.socket?.end();
  }

  protected bind(mode: "raw" | "user", devId: number | undefined): number {
    if (devId !== undefined && devId !== null && !Number.isNaN(devId) && devId !== 0)
      throw errnoError("ENODEV", `No such device: an H4 link has one controller, hci0, not hci${devId}`);
    this.mode = mode;
    if (this.socket === null) this.connect();
    return 0;
  }

  private connect(): void {
    this.state = "connecting";
    const socket = net.connect(this.address.connect);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("connect", () => {
      if (this.state === "connecting") this.state = "open";
    });
    socket.on("data", (chunk: Buffer) => {
      let packets: Uint8Array[];
      try {
        packets = this.parser.push(chunk);
      } catch (e) {
        if (!(e instanceof HciCodecError)) throw e;
        socket.destroy(errnoError("EPROTO", `${this.address.text}: ${e.message}`));
        return;
      }
      for (const p of packets) this.deliver(Buffer.from(p));
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      this.state = "closed";
      this.emit("error", e);
    });
    socket.on("close", () => {
      this.state = "closed";
    });
  }

  private deliver(packet: Buffer): void {
    if (!this.started) return;
    if (this.filter !== null && this.mode === "raw" && !hciFilterPasses(this.filter, packet)) return;
    this.emit("data", packet);
  }
}

/** The socket class noble and bleno construct with no arguments, bound to the H4 server at `address`. */
export function h4HciSocketClass(address: string): new () => H4HciSocket {
  const parsed = parseH4Address(address);
  return class extends H4HciSocket {
    constructor() {
      super(parsed);
    }
  };
}
