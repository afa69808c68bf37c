import type { IncomingMessage, ServerResponse } from "node:http";
import type { BridgeMetrics } from "../ops/metrics.js";
import { STATUS_CSS, STATUS_HTML, STATUS_JS } from "./assets.js";
import type { StatusLogin } from "./login.js";
import type { StatusStream } from "./stream.js";

/** Only this page's own files and event stream: no inline script or style, nothing from elsewhere, no framing. */
export const STATUS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  "content-security-policy": STATUS_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const FILES: Record<string, { type: string; body: string }> = {
  "/": { type: "text/html; charset=utf-8", body: STATUS_HTML },
  "/status/app.css": { type: "text/css; charset=utf-8", body: STATUS_CSS },
  "/status/app.js": { type: "text/javascript; charset=utf-8", body: STATUS_JS },
};

/**
 * The operator's read-only status page on the metrics port: `/` (the page), `/status/app.css`, `/status/app.js`,
 * `/status/snapshot.json` and `/status/events` (Server-Sent Events). Behind HTTP Basic when a login is configured
 * (`status.password`; required when the port is not bound to loopback). It answers only GET and HEAD, changes
 * nothing, and holds no secret to show: the bridge has none that anyone trusts (docs/design.md section 7).
 */
export class StatusPage {
  constructor(
    private readonly stream: StatusStream,
    private readonly login: StatusLogin | null,
    private readonly metrics: BridgeMetrics,
  ) {}

  /** Answers the request when it is one of the page's paths; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    // Browsers ask for an icon; the page has none (and no 404 in its console).
    if (path === "/favicon.ico") {
      res.writeHead(204, SECURITY_HEADERS).end();
      return true;
    }
    const file = FILES[path];
    const known = file || path === "/status/snapshot.json" || path === "/status/events";
    if (!known) return false;
    if (this.login && !this.login.accepts(req.headers.authorization)) {
      if (req.headers.authorization) this.metrics.statusLoginFailures.inc();
      res
        .writeHead(401, {
          ...SECURITY_HEADERS,
          "www-authenticate": 'Basic realm="latchkey bridge status", charset="UTF-8"',
          "content-type": "text/plain; charset=utf-8",
        })
        .end("login required (status.username / status.password)\n");
      return true;
    }
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    if (file) {
      res.writeHead(200, { "content-type": file.type }).end(req.method === "HEAD" ? undefined : file.body);
      return true;
    }
    if (path === "/status/snapshot.json") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(this.stream.snapshot()));
      return true;
    }
    if (req.method === "HEAD") {
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" }).end();
      return true;
    }
    this.stream.attach(res);
    return true;
  }

  close(): void {
    this.stream.close();
  }
}
