import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { CloudMetrics } from "./metrics.js";

/**
 * The cloud's metrics listener: `GET /metrics` (Prometheus text) and nothing else, on an address and port of its own
 * (`latchkey-cloud serve --metrics-port`, default host 127.0.0.1), never on the public API port: the counts of refused
 * reports and actions are for the operator, not for whoever can reach the API.
 */
export class MetricsServer {
  private server: Server | null = null;
  url = "";

  constructor(private readonly metrics: CloudMetrics) {}

  async listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      if (path !== "/metrics") {
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not_found"}');
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      this.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.metrics.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(e.message),
      );
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.url = `http://${shownHost}:${address.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
