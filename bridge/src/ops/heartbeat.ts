import { ServiceLoop } from "@latchkey/runtime";
import type { CloudClient } from "../cloud/client.js";
import { BRIDGE_VERSION } from "../version.js";
import type { Logger } from "./logger.js";
import type { BridgeMetrics } from "./metrics.js";

/** `POST /bridge/v1/heartbeat` every period: the cloud shows the bridge online and how many locks it sees. */
export class HeartbeatLoop {
  private readonly loop: ServiceLoop;

  constructor(cloud: CloudClient, periodMs: number, locksOnline: () => number, metrics: BridgeMetrics, logger: Logger) {
    // A missed heartbeat is made up by the next one: failures wait the period, not a backoff.
    this.loop = new ServiceLoop({
      round: async (signal) => {
        try {
          // Aborted on stop: the extensions stop one by one, and a heartbeat in flight must not hold the others.
          await cloud.heartbeat(BRIDGE_VERSION, locksOnline(), signal);
        } catch (e) {
          if (!signal.aborted) {
            metrics.cloudErrors.inc({ operation: "heartbeat" });
            logger.debug({ err: (e as Error).message }, "heartbeat failed");
          }
        }
        return periodMs;
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
