import type { CommandResult } from "@latchkey/protocol";
import type { CommandRequest } from "../commands/command-channel.js";
import type { Logger } from "../ops/logger.js";
import type { LockActivity } from "./lock-activity.js";
import type { LockRegistry } from "./registry.js";

/**
 * Asks an MQTT lock that (re)connects for its `ping`: the lock state it is in and the `v` of the signed state it
 * runs. Home Assistant then has each lock's state retained from the start, not only after the lock's first
 * `locked` / `unlocked` event, and the status page has the version the lock runs. Both are the lock's unauthenticated
 * word (a `cmd/result` carries no MAC) and labelled so; nothing is decided by them. A few at a time, so a site powering
 * up does not fill the command channel that remote actions use; a lock asked already and not yet answered is not asked
 * again, and one that does not answer only costs its timeout.
 */
export class LockProbe {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private active = 0;
  private stopped = false;

  constructor(
    private readonly send: (lockId: string, request: CommandRequest) => Promise<CommandResult>,
    private readonly registry: LockRegistry,
    private readonly activity: LockActivity,
    private readonly logger: Logger,
    private readonly concurrency = 4,
  ) {}

  /** Pings the lock soon (coalesced with a ping already waiting for it). */
  probe(lockId: string): void {
    if (this.stopped || this.queued.has(lockId)) return;
    this.queued.add(lockId);
    this.queue.push(lockId);
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.queued.clear();
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queue.length > 0 && !this.stopped) {
      const lockId = this.queue.shift()!;
      this.queued.delete(lockId);
      this.active++;
      void this.ping(lockId).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  private async ping(lockId: string): Promise<void> {
    try {
      const result = await this.send(lockId, { type: "ping" });
      if (!result.ok) {
        this.logger.debug({ lockId, code: result.code }, "a lock did not answer the bridge's ping");
        return;
      }
      if (result.state) await this.registry.setLockState(lockId, result.state);
      // A lock that runs no signed state may leave `v` out (protocol: 0 means none).
      this.activity.pinged(lockId, result.v ?? 0);
    } catch (e) {
      this.logger.debug({ lockId, err: (e as Error).message }, "could not ping a lock");
    }
  }
}
