import { answerMetrics, OpsHttpServer, refuseWrites } from "@latchkey/runtime";
import type { CloudMetrics } from "./metrics.js";

/**
 * The cloud's metrics listener: `GET /metrics` (Prometheus text) and nothing else, on an address and port of its own
 * (`latchkey-cloud serve --metrics-port`, default host 127.0.0.1), never on the public API port: the counts of refused
 * reports and actions are for the operator, not for whoever can reach the API.
 */
export class MetricsServer extends OpsHttpServer {
  constructor(metrics: CloudMetrics) {
    super((req, res, path) => {
      if (path !== "/metrics") return false;
      if (!refuseWrites(req, res)) answerMetrics(metrics.registry, res);
      return true;
    });
  }
}
