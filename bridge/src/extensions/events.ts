import { EventEmitter } from "node:events";
import type { Applied } from "../feed/apply-changes.js";

/**
 * What one part of the bridge tells the others. Parts never call each other for these: the one that knows emits, the
 * ones that care listen, so an extension can be left out (Home Assistant, BLE) without the others changing.
 */
export interface BridgeEvents {
  /** A lock connected to (true) or left (false) the broker, when the broker can tell. */
  lockConnection: [lockId: string, connected: boolean];
  /** A lock subscribed to its `cmd` topic: commands reach it from now on. */
  lockSubscribed: [lockId: string];
  /** A lock can be reached now (it connected, or an external broker's lock said it is online). */
  lockReachable: [lockId: string];
  /** A lock asked for the time (not durable: the answer is only good for this nonce, within 5 s). */
  timeRequest: [lockId: string, payload: Buffer];
  /** `homeassistant/status` (Home Assistant's birth and last will). */
  homeAssistantStatus: [payload: Buffer];
  /** A change-feed page was applied (the lock registry has already reloaded its locks). */
  feedApplied: [applied: Applied];
  /** The cloud accepted events of these locks that move their signed state's `ack`. */
  reportsAccepted: [lockIds: ReadonlySet<string>];
  /** The cloud refused a lock's report with this verdict. */
  reportRefused: [lockId: string, verdict: string];
  /** A BLE lock has a remote action waiting for its next visit. */
  bleActionPending: [lockId: string];
  /** Something the bridge's own state shows changed (the cloud link, the Bluetooth adapter). */
  bridgeStateChanged: [];
}

export class EventBus extends EventEmitter<BridgeEvents> {}
