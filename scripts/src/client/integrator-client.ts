import {
  IntegratorApiClient,
  type Job,
  type KeyEvent,
  type RemoteAction,
  type VendorConnection,
  type VendorConnectionState,
} from "@latchkey/protocol/clients";
import { type PollOptions, pollUntil } from "@latchkey/runtime";

/**
 * The Integrator API client of scripts, the stack's demo and the end-to-end suite: protocol's typed client (one method
 * per route, `@latchkey/protocol/clients`) and the waits a script needs, polling over runtime's `pollUntil`.
 */
export class IntegratorClient extends IntegratorApiClient {
  /** Polls the connection (GET one) until it is in `state`; fails at once when it settles in another final state. */
  waitForVendorConnection(
    lockHolderId: string,
    vendorConnectionId: string,
    state: VendorConnectionState,
    options: PollOptions = {},
  ): Promise<VendorConnection> {
    return pollUntil(
      `vendor connection ${vendorConnectionId} to be ${state}`,
      async () => {
        const vc = await this.getVendorConnection(lockHolderId, vendorConnectionId);
        return vc.state === state ? vc : null;
      },
      { intervalMs: 100, ...options },
    );
  }

  /** Polls `GET /jobs/{jobId}` until the job is `succeeded` or `failed`. */
  waitForJob(jobId: string, options: PollOptions = {}): Promise<Job> {
    return pollUntil(
      `job ${jobId} to finish`,
      async () => {
        const job = await this.getJob(jobId);
        return job.status === "succeeded" || job.status === "failed" ? job : null;
      },
      { intervalMs: 100, ...options },
    );
  }

  /** Polls the action until it is `succeeded`, `failed` or `expired` (a later report may still make it succeeded). */
  waitForAction(
    lockHolderId: string,
    lockId: string,
    actionId: string,
    options: PollOptions = {},
  ): Promise<RemoteAction> {
    return pollUntil(
      `action ${actionId} to finish`,
      async () => {
        const action = await this.getAction(lockHolderId, lockId, actionId);
        return action.status === "pending" || action.status === "sent" ? null : action;
      },
      { intervalMs: 100, ...options },
    );
  }

  /** Polls the lock holder's events until one matches. */
  waitForEvent(
    lockHolderId: string,
    what: string,
    match: (event: KeyEvent) => boolean,
    options: PollOptions = {},
  ): Promise<KeyEvent> {
    return pollUntil(what, async () => (await this.allEvents(lockHolderId)).find(match), {
      intervalMs: 100,
      ...options,
    });
  }
}
