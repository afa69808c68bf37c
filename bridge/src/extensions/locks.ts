import { LockProbe } from "../locks/lock-probe.js";
import type { BridgeContext, Extension } from "./extension.js";

/**
 * The locks as the broker sees them: who is connected, marked seen at connect, probed once commands reach them, and
 * announced on the bus as reachable (their signed state is fetched then).
 */
export class LocksExtension implements Extension {
  readonly name = "locks";
  private readonly connected = new Set<string>();
  private readonly probe: LockProbe;

  constructor(private readonly ctx: BridgeContext) {
    const { registry, activity, commands, events, metrics, broker, clock, logger } = ctx;
    this.probe = new LockProbe(
      (lockId, request) => commands.send(lockId, request, 5_000),
      registry,
      activity,
      logger.child({ part: "locks" }),
    );
    metrics.gauge("locks_known", "Locks the bridge knows (assigned or seen)", () => registry.size);
    metrics.gauge("locks_online", "Locks online now", () => registry.countOnline());
    metrics.gauge("lock_keys_known", "Locks whose public keys the bridge holds (attached to reports)", () =>
      registry.countKeys(),
    );
    events.on("lockConnection", (lockId, isConnected) => {
      if (!isConnected) {
        this.connected.delete(lockId);
        return;
      }
      this.connected.add(lockId);
      void registry.markSeen(lockId, "mqtt", clock.now()).catch(() => {});
      activity.seen(lockId);
      events.emit("lockReachable", lockId);
      // A lock with a stored session gets commands at once; a new one only once it subscribes.
      this.probe.probe(lockId);
    });
    events.on("lockSubscribed", (lockId) => this.probe.probe(lockId));
    // An external broker cannot tell the bridge of connections: a lock's "online" status stands for one.
    if (broker.kind === "external")
      registry.on("online", (lockId) => {
        events.emit("lockReachable", lockId);
        this.probe.probe(lockId);
      });
    events.on("reportRefused", (lockId, verdict) => activity.refused(lockId, verdict));
  }

  /** Whether an MQTT lock can take a command now. */
  reachable(lockId: string): boolean {
    return (
      this.connected.has(lockId) ||
      (this.ctx.broker.kind === "external" && this.ctx.registry.get(lockId)?.online === true)
    );
  }

  async start(): Promise<void> {}

  async drain(): Promise<void> {
    this.probe.stop();
    this.ctx.commands.close();
  }

  async stop(): Promise<void> {}
}
