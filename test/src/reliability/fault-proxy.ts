import { createServer, request, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** What the proxy does with each request, until told otherwise. */
export type FaultMode =
  /** Forward to the cloud. */
  | "pass"
  /** Answer 500 without asking the cloud. */
  | "error500"
  /** Accept the request and never answer (the client's timeout fires). */
  | "hang"
  /** Cut the connection at once (the network is gone). */
  | "reset";

/**
 * An HTTP proxy between the bridge and the cloud that injects faults: 500s, timeouts, cut connections. Counts the
 * requests it faulted, per path, so tests can bound the retries a client made (a client that backs off makes few).
 */
export class FaultProxy {
  mode: FaultMode = "pass";
  /** Requests answered with a fault, by path (without the query). */
  readonly faulted = new Map<string, number>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  constructor(private readonly target: string) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0]!;
      if (this.mode !== "pass") this.faulted.set(path, (this.faulted.get(path) ?? 0) + 1);
      switch (this.mode) {
        case "error500":
          req.resume();
          res
            .writeHead(500, { "content-type": "application/json" })
            .end('{"error":"server_error","errorDescription":"injected"}');
          return;
        case "hang":
          req.resume();
          return;
        case "reset":
          req.socket.destroy();
          return;
        case "pass": {
          const upstream = request(
            new URL(req.url ?? "/", this.target),
            { method: req.method, headers: req.headers },
            (answer) => {
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              answer.pipe(res);
            },
          );
          upstream.on("error", () => res.writeHead(502).end());
          req.pipe(upstream);
        }
      }
    });
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Switches the mode; connections held open by `hang` are cut so clients see the change at once. */
  set(mode: FaultMode): void {
    this.mode = mode;
    for (const socket of this.sockets) socket.destroy();
  }

  count(path: string): number {
    return this.faulted.get(path) ?? 0;
  }

  get total(): number {
    let n = 0;
    for (const v of this.faulted.values()) n += v;
    return n;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
