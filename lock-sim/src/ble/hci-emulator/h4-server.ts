import { rmSync } from "node:fs";
import net from "node:net";
import type { Air } from "./air.js";
import { type ControllerOptions, EmulatedController } from "./controller.js";
import { parseH4Address } from "./h4-socket.js";
import { H4StreamParser, HciCodecError } from "./hci-codec.js";

/**
 * Makes an air reachable from other processes: each connection to this loopback TCP (or unix) socket gets a fresh
 * emulated controller on the air and speaks H4 with it, as a host speaks to a UART controller. The other process
 * loads noble or bleno with `h4HciSocketClass(address)` (h4-socket.ts) and needs nothing else from lock-sim. When the
 * connection ends, its controller leaves the air and its peers see their links time out.
 */
export interface H4ServerOptions {
  air: Air;
  /** "tcp://127.0.0.1:0" (default: a free port) or "unix:/path" (an existing file there is replaced). */
  listen?: string;
  /** The controller for the n-th connection (default address c0:de:00:00:10:<n>, name "h4-<n>"). */
  controller?: (n: number) => ControllerOptions;
}

export interface H4Server {
  /** Where clients connect: "tcp://127.0.0.1:<port>" or "unix:<path>". */
  readonly address: string;
  /** The controllers of the connections open now. */
  readonly controllers: EmulatedController[];
  close(): Promise<void>;
}

export async function serveH4(options: H4ServerOptions): Promise<H4Server> {
  const where = parseH4Address(options.listen ?? "tcp://127.0.0.1:0");
  const controllers = new Set<EmulatedController>();
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((socket) => {
    const n = ++count;
    const controller = new EmulatedController(
      options.air,
      options.controller?.(n) ?? {
        address: `c0:de:00:00:10:${(n & 0xff).toString(16).padStart(2, "0")}`,
        name: `h4-${n}`,
      },
    );
    controllers.add(controller);
    sockets.add(socket);
    socket.setNoDelay(true);
    const parser = new H4StreamParser();
    controller.on("packet", (p: Buffer) => socket.write(p));
    socket.on("data", (chunk: Buffer) => {
      let packets: Uint8Array[];
      try {
        packets = parser.push(chunk);
      } catch (e) {
        if (!(e instanceof HciCodecError)) throw e;
        socket.destroy(); // the stream lost its framing: like a UART out of sync, the link is reset
        return;
      }
      for (const p of packets) controller.write(p);
    });
    socket.on("error", () => {}); // the peer went away; "close" follows
    socket.on("close", () => {
      sockets.delete(socket);
      controllers.delete(controller);
      controller.close();
    });
  });
  if ("path" in where.connect) rmSync(where.connect.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if ("path" in where.connect) server.listen(where.connect.path, resolve);
    else server.listen(where.connect.port, where.connect.host, resolve);
  });
  const bound = server.address();
  const address =
    typeof bound === "string" || bound === null
      ? where.text
      : `tcp://${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  return {
    address,
    get controllers() {
      return [...controllers];
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
