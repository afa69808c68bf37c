import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { StatusPage } from "../status/status-page.js";
import type { BridgeMetrics } from "./metrics.js";

export interface Health {
  ok: boolean;
  [detail: string]: unknown;
}

/**
 * `/metrics` (Prometheus text), `/healthz` (JSON; 503 while starting, draining or without its broker; 200 with
 * `status: "degraded"` and the reasons while it serves locks but needs attention) and, when enabled, the operator's
 * status page (`/`, `/status/…`).
 */
export class OpsServer {
  private server: Server | null = null;
  url = "";

  constructor(
    private readonly metrics: BridgeMetrics,
    private readonly health: () => Health,
    private readonly status: StatusPage | null = null,
  ) {}

  async listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      if (path === "/metrics") {
        this.metrics.registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": this.metrics.registry.contentType }).end(text),
          (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(e.message),
        );
        return;
      }
      if (path === "/healthz") {
        const health = this.health();
        res.writeHead(health.ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(health));
        return;
      }
      if (this.status?.handle(req, res, path)) return;
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not_found"}');
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
    this.status?.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
