import { createServer, request, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * An on-path HTTP proxy between a bridge and its cloud that moves the cloud's `Date` header (issue 13: a proxy moved
 * every lock's clock to 2056 when the bridge took its time from that header). Everything else passes untouched, long
 * polls included; `shifted` counts the answers whose date it moved. With `dropping` it cuts every request instead
 * (what any on-path attacker can do: deny service).
 */
export class DateShiftProxy {
  shifted = 0;
  dropping = false;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly target: string,
    /** How far the `Date` header moves, in ms. */
    private readonly shiftMs: number,
  ) {
    this.server = createServer((req, res) => {
      if (this.dropping) {
        req.socket.destroy();
        return;
      }
      const upstream = request(
        new URL(req.url ?? "/", this.target),
        { method: req.method, headers: req.headers, agent: false },
        (answer) => {
          const headers = { ...answer.headers };
          const date = Date.parse(String(headers.date ?? new Date().toUTCString()));
          headers.date = new Date(date + this.shiftMs).toUTCString();
          this.shifted++;
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
