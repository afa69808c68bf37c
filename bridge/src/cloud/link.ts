import { EventEmitter } from "node:events";
import type { CloudError } from "./errors.js";

export interface CloudLinkStatus {
  /** The cloud's base URL. */
  url: string;
  /** Whether the last exchange reached a serving cloud; null before the first one. */
  reachable: boolean | null;
  /** Unix ms of the last 2xx answer. */
  lastSuccessAt: number | null;
  /** The last failed call (unreachable, 5xx, refused credentials, or another refusal), unix ms. */
  lastError: { at: number; operation: string; message: string } | null;
  /** Unix ms since which every exchange failed to reach a serving cloud; null while it is reachable. */
  unreachableSince: number | null;
  /** Set while the cloud refuses the bridge's credentials (`POST /auth/v1/token` answered 401). */
  credentialsRefused: { at: number; message: string } | null;
}

export interface CloudLinkEvents {
  /** The cloud stopped answering (network failure, timeout, 5xx), unix ms. */
  down: [since: number];
  /** The cloud answers again after being down for `outageMs`. */
  up: [outageMs: number];
  /** Reachability or the credentials' verdict changed (not every exchange: timestamps move all the time). */
  change: [];
}

/**
 * What the bridge knows of its link to the cloud, from every exchange the cloud client makes (feed, uploads, states,
 * heartbeats, logins): reachable or not and since when, the last success and the last error, and whether the cloud
 * refuses the bridge's credentials. `/healthz`, the status page and the outage log read it; nothing here retries.
 */
export class CloudLink extends EventEmitter<CloudLinkEvents> {
  private state: CloudLinkStatus;

  constructor(
    url: string,
    private readonly now: () => number,
  ) {
    super();
    this.state = {
      url,
      reachable: null,
      lastSuccessAt: null,
      lastError: null,
      unreachableSince: null,
      credentialsRefused: null,
    };
  }

  get status(): CloudLinkStatus {
    return { ...this.state };
  }

  /** A 2xx answer: reachable, and (when it was an authenticated call or a login) the credentials are good. */
  succeeded(): void {
    const before = this.signature();
    const at = this.now();
    const wasDown = this.state.unreachableSince;
    this.state.reachable = true;
    this.state.lastSuccessAt = at;
    this.state.unreachableSince = null;
    this.state.credentialsRefused = null;
    if (wasDown !== null) this.emit("up", Math.max(0, at - wasDown));
    if (this.signature() !== before) this.emit("change");
  }

  /** A non-2xx answer from a serving cloud (4xx but a refused login): reachable, the call itself failed. */
  answered(operation: string, error: CloudError): void {
    const before = this.signature();
    const wasDown = this.state.unreachableSince;
    this.noteError(operation, error);
    this.state.reachable = true;
    this.state.unreachableSince = null;
    if (wasDown !== null) this.emit("up", Math.max(0, this.now() - wasDown));
    if (this.signature() !== before) this.emit("change");
  }

  /** No serving cloud: a network failure, a timeout, or a 5xx (a proxy in front of a stopped cloud answers 502). */
  unreachable(operation: string, error: CloudError): void {
    const before = this.signature();
    const at = this.noteError(operation, error);
    this.state.reachable = false;
    if (this.state.unreachableSince === null) {
      this.state.unreachableSince = at;
      this.emit("down", at);
    }
    if (this.signature() !== before) this.emit("change");
  }

  /** The cloud refused the bridge's login (401 at `/auth/v1/token`): `cloud.bridgeId` / `cloud.secret` are wrong. */
  refused(error: CloudError): void {
    const before = this.signature();
    const at = this.noteError("token", error);
    const wasDown = this.state.unreachableSince;
    this.state.reachable = true;
    this.state.unreachableSince = null;
    this.state.credentialsRefused ??= { at, message: error.message };
    if (wasDown !== null) this.emit("up", Math.max(0, at - wasDown));
    if (this.signature() !== before) this.emit("change");
  }

  private signature(): string {
    return `${this.state.reachable}/${this.state.credentialsRefused !== null}`;
  }

  private noteError(operation: string, error: CloudError): number {
    const at = this.now();
    this.state.lastError = { at, operation, message: error.message };
    return at;
  }
}
