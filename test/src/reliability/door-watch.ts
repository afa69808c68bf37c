import type { SimLock } from "@latchkey/lock-sim";
import { type LockEvent, toHex } from "@latchkey/protocol";

/**
 * Counts the doors an attack opened (issue 13 item 8: "doors opened", which must be 0). It listens to every victim
 * lock it is given and judges each `unlocked` event the lock emits (the actuator moving the bolt open always emits
 * one, lock-sim lock/firmware.ts): honest when the event names a key the test handed to an honest phone and has not
 * revoked (its `key`, the token's cti), or carries the binding of a remote command the victim's cloud signed for an
 * integrator's action (its `cmd`, sha256 of the command's nonce); anything else is a door opened.
 */
export class DoorWatch {
  private readonly keys = new Set<string>();
  private readonly commands = new Set<string>();
  private readonly unlocks: Array<{ lockId: string; event: LockEvent }> = [];
  /** Unlocks judged honest so far (a test that opened honestly checks the watch saw it). */
  honestUnlocks = 0;

  /** A key token of an honest phone (by cti): its unlocks are honest until `revokedKey`. */
  honestKey(cti: Uint8Array): void {
    this.keys.add(toHex(cti));
  }

  /** The key was revoked: an unlock with it from now on is a door opened. */
  revokedKey(cti: Uint8Array): void {
    this.keys.delete(toHex(cti));
  }

  /** A remote command the cloud signed for an honest action (`commandResultBinding(nonce)`). */
  honestCommand(binding: Uint8Array): void {
    this.commands.add(toHex(binding));
  }

  /** Judges every `unlocked` event `lock` emits from now on (a restarted lock is a new SimLock: watch it again). */
  watch(lock: SimLock): void {
    lock.on("event", (event: LockEvent) => {
      if (event.type !== "unlocked") return;
      // Judged when it happens: a key revoked later does not make an earlier honest unlock an attack.
      const honest =
        (event.key !== undefined && this.keys.has(toHex(event.key))) ||
        (event.cmd !== undefined && this.commands.has(toHex(event.cmd)));
      if (honest) this.honestUnlocks++;
      else this.unlocks.push({ lockId: lock.id, event });
    });
  }

  /** Every unlock no honest key or honest command caused, so far. */
  get opened(): ReadonlyArray<{ lockId: string; event: LockEvent }> {
    return this.unlocks;
  }
}
