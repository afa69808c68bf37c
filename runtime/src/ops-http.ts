import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { closeHttpServer } from "./http-server.js";

/** What a request handler of an operator's listener answers: true when it wrote the answer, false for a 404. */
export type OpsHandler = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/** The part of a prom-client registry the listener needs (runtime does not depend on prom-client). */
export interface MetricsText {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Answers a scrape with the registry's exposition, or 500 with the reason when collecting failed. */
export function answerMetrics(registry: MetricsText, res: ServerResponse): void {
  registry.metrics().then(
    (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
    (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(e.message),
  );
}

/**
 * The small HTTP listener of the operator's endpoints (the bridge's /metrics, /healthz and status page; the cloud's
 * /metrics on a port of its own): a plain node:http server, since it must keep answering when the main service
 * (fastify, the broker) is in trouble. Anything the handler does not answer is a JSON 404.
 */
export class OpsHttpServer {
  private server: Server | null = null;
  url = "";

  constructor(private readonly handle: OpsHandler) {}

  async listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      if (!this.handle(req, res, path))
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
    await closeHttpServer(server);
  }
}

/** 405 for anything but GET and HEAD (the operator's endpoints are read-only); true when it answered. */
export function refuseWrites(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === "GET" || req.method === "HEAD") return false;
  res.writeHead(405, { allow: "GET, HEAD" }).end();
  return true;
}
