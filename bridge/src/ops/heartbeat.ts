import type { CloudClient } from "../cloud/client.js";
import { sleep } from "../retry/sleep.js";
import { BRIDGE_VERSION } from "../version.js";
import type { Logger } from "./logger.js";
import type { BridgeMetrics } from "./metrics.js";

/** `POST /bridge/v1/heartbeat` every period: the cloud shows the bridge online and how many locks it sees. */
export class HeartbeatLoop {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly cloud: CloudClient,
    private readonly periodMs: number,
    private readonly locksOnline: () => number,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        await this.cloud.heartbeat(BRIDGE_VERSION, this.locksOnline());
      } catch (e) {
        if (signal.aborted) break;
        this.metrics.cloudErrors.inc({ operation: "heartbeat" });
        this.logger.debug({ err: (e as Error).message }, "heartbeat failed");
      }
      await sleep(this.periodMs, signal);
    }
  }
}
