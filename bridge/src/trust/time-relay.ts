import { decodeTimeRequest, isProtocolError, MAX_TIME_RTT_MS, type Topics } from "@latchkey/protocol";
import type { LockBroker } from "../broker/transport.js";
import type { CloudClient } from "../cloud/client.js";
import { CloudError } from "../cloud/errors.js";
import { LockMismatchError } from "../locks/lock-messages.js";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";

/**
 * Carries a lock's time request (`time/request`) to the cloud and the signed answer back on `time/answer`
 * (docs/mqtt.md, "Signed state and time"). Bounded: one request in flight per lock (another arriving meanwhile is
 * dropped; the lock asks again), and a request still unanswered after the lock's round-trip cap (5 s, docs/trust.md)
 * is given up, its answer dropped, since the lock would refuse it as `rtt_exceeded`. Nothing is retried: a time
 * answer is only good for the nonce it was asked with, so only the lock can ask again.
 */
export class TimeRelay {
  private readonly inFlight = new Map<string, AbortController>();
  private stopped = false;
  private readonly counts = { relayed: 0, failures: 0, dropped: 0 };

  constructor(
    private readonly cloud: CloudClient,
    private readonly broker: LockBroker,
    private readonly topics: Topics,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly capMs: number = MAX_TIME_RTT_MS,
  ) {
    metrics.gauge(
      "time_requests_in_flight",
      "Time requests relayed to the cloud and not answered yet",
      () => this.inFlight.size,
    );
  }

  /**
   * A lock published a time request. Checks its shape and that it names this lock (a request naming another lock is
   * refused like any payload naming another lock: docs/mqtt.md), then relays it without waiting for the answer.
   */
  request(lockId: string, payload: Uint8Array): void {
    let named: string;
    try {
      named = decodeTimeRequest(payload).lock;
    } catch (e) {
      if (!isProtocolError(e)) throw e;
      this.metrics.messagesRejected.inc({ reason: e.code });
      // The same line as every other lock message that does not decode (LockMessages): one search finds them all.
      this.logger.warn(
        { lockId, kind: "time/request", code: e.code, err: e.message },
        "dropped a lock message that does not decode",
      );
      return;
    }
    if (named !== lockId) {
      this.metrics.aclDenied.inc({ action: "publish" });
      this.logger.warn({ lockId, named }, "refused a time request naming another lock");
      throw new LockMismatchError(`time request from ${lockId} names lock ${named}`);
    }
    if (this.stopped) return;
    if (this.inFlight.has(lockId)) {
      this.metrics.timeRequestsDropped.inc({ reason: "in_flight" });
      this.counts.dropped++;
      this.logger.debug({ lockId }, "dropped a time request: one is already in flight for this lock");
      return;
    }
    const abort = new AbortController();
    this.inFlight.set(lockId, abort);
    const timer = setTimeout(() => abort.abort(), this.capMs);
    timer.unref();
    void this.relay(lockId, payload, abort.signal).finally(() => {
      clearTimeout(timer);
      this.inFlight.delete(lockId);
    });
  }

  /** Since start: answers published, requests the cloud answered with an error or not at all, requests dropped. */
  get status(): { inFlight: number; relayed: number; failures: number; dropped: number } {
    return { inFlight: this.inFlight.size, ...this.counts };
  }

  stop(): void {
    this.stopped = true;
    for (const abort of this.inFlight.values()) abort.abort();
  }

  private async relay(lockId: string, payload: Uint8Array, signal: AbortSignal): Promise<void> {
    let answer: Uint8Array;
    try {
      answer = await this.cloud.timeAnswer(lockId, payload, signal);
    } catch (e) {
      if (signal.aborted) {
        this.metrics.timeRequestsDropped.inc({ reason: this.stopped ? "stopping" : "over_cap" });
        this.counts.dropped++;
        if (!this.stopped) this.logger.warn({ lockId, capMs: this.capMs }, "gave up a time request over the cap");
        return;
      }
      const error = e instanceof CloudError ? e : new CloudError("time answer", 0, "error", (e as Error).message);
      this.metrics.relayFetchFailures.inc({ operation: "time" });
      this.counts.failures++;
      this.metrics.cloudErrors.inc({ operation: "time_answer" });
      this.logger.warn({ lockId, err: error.message }, "the cloud answered no time for a lock's request");
      return;
    }
    if (signal.aborted) {
      this.metrics.timeRequestsDropped.inc({ reason: "over_cap" });
      this.counts.dropped++;
      return;
    }
    try {
      await this.broker.publish(this.topics.lock(lockId, "time/answer"), answer, { qos: 1 });
      this.metrics.relayedTimeAnswers.inc();
      this.counts.relayed++;
    } catch (e) {
      if (!this.stopped) this.logger.warn({ lockId, err: (e as Error).message }, "could not publish a time answer");
    }
  }
}
