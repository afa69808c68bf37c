import { answerMetrics, OpsHttpServer, refuseWrites } from "@latchkey/runtime";
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
/**
 * `/healthz` says its times as the cloud's APIs do, RFC 3339 in UTC (issue 15 item 9): every `…At`, `…Since`, `at` and
 * `since` field the parts report in Unix ms. The status page's own feed keeps Unix ms (its script does the arithmetic).
 */
function rfc3339Times(key: string, value: unknown): unknown {
  return typeof value === "number" && Number.isFinite(value) && /^(at|since)$|At$|Since$/.test(key)
    ? new Date(value).toISOString()
    : value;
}

export class OpsServer extends OpsHttpServer {
  constructor(
    metrics: BridgeMetrics,
    health: () => Health,
    private readonly status: StatusPage | null = null,
  ) {
    super((req, res, path) => {
      if (refuseWrites(req, res)) return true;
      if (path === "/metrics") {
        answerMetrics(metrics.registry, res);
        return true;
      }
      if (path === "/healthz") {
        const h = health();
        res.writeHead(h.ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(h, rfc3339Times));
        return true;
      }
      return this.status?.handle(req, res, path) ?? false;
    });
  }

  override async close(): Promise<void> {
    this.status?.close();
    await super.close();
  }
}
