import { MAX_TIME_RTT_MS } from "@latchkey/protocol";
import { AckRefetch } from "../trust/ack-refetch.js";
import { StateRelay } from "../trust/state-relay.js";
import { TimeRelay } from "../trust/time-relay.js";
import type { BridgeContext, Extension } from "./extension.js";

/** The signed state and time relays (docs/trust.md): the cloud's words carried to the locks unchanged. */
export class RelayExtension implements Extension {
  readonly name = "relay";
  readonly states: StateRelay;
  readonly times: TimeRelay;
  private readonly ackRefetch: AckRefetch;

  constructor(ctx: BridgeContext, timeRelayCapMs = MAX_TIME_RTT_MS) {
    const { db, cloud, broker, topics, registry, metrics, logger, clock, events } = ctx;
    this.states = new StateRelay(
      db,
      cloud,
      broker,
      topics,
      registry,
      ctx.backoff(),
      { refreshMs: 3_600_000, concurrency: 4 },
      metrics,
      logger.child({ part: "relay" }),
      () => clock.now(),
    );
    this.times = new TimeRelay(
      cloud,
      broker,
      topics,
      metrics,
      logger.child({ part: "relay" }),
      Math.min(timeRelayCapMs, MAX_TIME_RTT_MS),
    );
    const states = this.states;
    this.ackRefetch = new AckRefetch(
      10_000,
      () => performance.now(),
      (lockIds) => states.fetch(lockIds),
    );
    events.on("lockReachable", (lockId) => states.fetch([lockId]));
    events.on("timeRequest", (lockId, payload) => this.times.request(lockId, payload));
    events.on("reportsAccepted", (lockIds) => this.ackRefetch.accepted(lockIds));
    events.on("feedApplied", (applied) => {
      if (applied.states || applied.locks.size > 0) states.refreshAll();
    });
  }

  async start(): Promise<void> {
    this.states.start();
  }

  async drain(): Promise<void> {
    this.ackRefetch.stop();
    this.times.stop();
  }

  async stop(): Promise<void> {
    await this.states.stop();
  }
}
