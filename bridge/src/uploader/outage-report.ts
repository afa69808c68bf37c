import type { CloudLink } from "../cloud/link.js";
import type { Logger } from "../ops/logger.js";

/**
 * Tells the operator how an outage of the cloud ended: once the cloud answers again and the uploader has emptied what
 * waited in the outbox, one line `cloud reachable again, uploaded N` (N: items that left the outbox since the cloud came
 * back), and while that backlog drains, a progress line every `progressMs`. The bridge starting while the cloud is
 * unreachable counts as an outage too.
 */
export class OutageReport {
  private recovering: { outageMs: number; uploaded: number; lastProgress: number } | null = null;

  constructor(
    link: CloudLink,
    private readonly outboxItems: () => number,
    private readonly logger: Logger,
    /** Monotonic ms (progress pacing only). */
    private readonly monotonic: () => number = () => performance.now(),
    private readonly progressMs = 10_000,
  ) {
    link.on("up", (outageMs) => {
      // Down again before the backlog drained: the same recovery goes on, the outage grows.
      if (this.recovering) this.recovering.outageMs += outageMs;
      else this.recovering = { outageMs, uploaded: 0, lastProgress: this.monotonic() };
    });
  }

  uploaded(n: number): void {
    const r = this.recovering;
    if (!r) return;
    r.uploaded += n;
    const now = this.monotonic();
    if (now - r.lastProgress >= this.progressMs) {
      r.lastProgress = now;
      this.logger.info(
        { uploaded: r.uploaded, left: this.outboxItems() },
        "uploading what waited in the outbox during the outage",
      );
    }
  }

  /** The uploader found nothing more to send. */
  idle(): void {
    const r = this.recovering;
    if (!r) return;
    this.recovering = null;
    this.logger.info(
      { uploaded: r.uploaded, outageSeconds: Math.round(r.outageMs / 1000), left: this.outboxItems() },
      `cloud reachable again, uploaded ${r.uploaded}`,
    );
  }
}
