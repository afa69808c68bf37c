import { BearerClient, type ClientCredentials, type ClientOptions } from "./bearer.js";
import { expectOk, type Query } from "./http.js";
import type {
  Authority,
  Bridge,
  ClaimedLock,
  CreatedBridge,
  CreatedWebhook,
  Integrator,
  IssuerKey,
  Job,
  Key,
  KeyEdit,
  KeyEvent,
  KeyInput,
  Lock,
  LockHolder,
  LockHolderInput,
  LockPatch,
  Page,
  RemoteAction,
  RemoteActionKind,
  RotatedBridgeSecret,
  RotatedClientSecret,
  RotateSecretOptions,
  VendorConnection,
  VendorConnectionInput,
  Webhook,
  WebhookDelivery,
  WebhookEventType,
  WebhookPatch,
} from "./types.js";

const enc = encodeURIComponent;

/**
 * A typed client of the Integrator API (`/integrators/v1`, docs/design.md section 4) over the fetch it is handed: one
 * method per route, typed by the contracts the cloud validates with. It logs in with client credentials and logs in
 * again once when a call answers 401 (the token expired). Every method throws ApiError on a non-2xx answer; `request`
 * answers any status for tests of refusals. scripts' `IntegratorClient` adds waiting for jobs, actions and events.
 */
export class IntegratorApiClient extends BearerClient {
  constructor(apiUrl: string, credentials: ClientCredentials, options: ClientOptions = {}) {
    super(apiUrl, credentials, "/integrators/v1", options);
  }

  private call<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    return this.ok<T>(method, path, body, query ? { query } : {});
  }

  // ── integrator and lock holders ───────────────────────────────────────────────────────────────────────────────

  getIntegrator(integratorId: string): Promise<Integrator> {
    return this.call("GET", `/integrator/${enc(integratorId)}`);
  }

  createLockHolder(input: LockHolderInput): Promise<LockHolder> {
    return this.call("POST", "/lock-holders", input);
  }

  listLockHolders(page: Page = {}): Promise<{ lockHolders: LockHolder[]; startAfterId?: string }> {
    return this.call("GET", "/lock-holders", undefined, { ...page });
  }

  getLockHolder(lockHolderId: string): Promise<LockHolder> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}`);
  }

  patchLockHolder(lockHolderId: string, patch: { name?: string; countryIso?: string }): Promise<LockHolder> {
    return this.call("PATCH", `/lock-holders/${enc(lockHolderId)}`, patch);
  }

  /**
   * Rotates this client's own secret (needs integrator.admin). The client logs in with the new secret from now on;
   * store `secret` wherever the credentials live before `expiresOldAt`.
   */
  async rotateClientSecret(integratorId: string, options: RotateSecretOptions = {}): Promise<RotatedClientSecret> {
    const path = `/integrator/${enc(integratorId)}/clients/${enc(this.credentials.clientId)}/secret/rotate`;
    const answer = await this.call<RotatedClientSecret>("POST", path, options);
    this.credentials = { ...this.credentials, clientSecret: answer.secret };
    return answer;
  }

  /** Revokes this client's old secret now, and every token issued for it (idempotent). */
  async revokePreviousClientSecret(integratorId: string): Promise<void> {
    await this.call(
      "DELETE",
      `/integrator/${enc(integratorId)}/clients/${enc(this.credentials.clientId)}/secret/previous`,
    );
  }

  listIssuerKeys(lockHolderId: string): Promise<IssuerKey[]> {
    return this.call<{ issuerKeys: IssuerKey[] }>("GET", `/lock-holders/${enc(lockHolderId)}/issuer-keys`).then(
      (a) => a.issuerKeys,
    );
  }

  /** A new key signs from now on; the old one is retired once its last token has expired. */
  rotateIssuerKey(lockHolderId: string): Promise<IssuerKey> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/issuer-keys/rotate`);
  }

  /**
   * Retires an issuer key now (a leak, review 12.6): locks drop it with their next signed state; if it still signs, a
   * new key takes over first, and the next prefetch mints under the current key.
   */
  retireIssuerKey(lockHolderId: string, kid: string): Promise<IssuerKey> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/issuer-keys/${enc(kid)}/retire`);
  }

  // ── bridges and vendor connections ────────────────────────────────────────────────────────────────────────────

  registerBridge(lockHolderId: string, name?: string): Promise<CreatedBridge> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/bridges`, name === undefined ? {} : { name });
  }

  /** A new secret for the bridge (shown once); its old one works until `expiresOldAt` (docs/bridge-api.md). */
  rotateBridgeSecret(
    lockHolderId: string,
    bridgeId: string,
    options: RotateSecretOptions = {},
  ): Promise<RotatedBridgeSecret> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/bridges/${enc(bridgeId)}/secret/rotate`, options);
  }

  /** Revokes the bridge's old secret now, and every token issued for it (idempotent). */
  async revokePreviousBridgeSecret(lockHolderId: string, bridgeId: string): Promise<void> {
    await this.call("DELETE", `/lock-holders/${enc(lockHolderId)}/bridges/${enc(bridgeId)}/secret/previous`);
  }

  listBridges(lockHolderId: string): Promise<Bridge[]> {
    return this.call<{ bridges: Bridge[] }>("GET", `/lock-holders/${enc(lockHolderId)}/bridges`).then((a) => a.bridges);
  }

  createVendorConnection(lockHolderId: string, input: VendorConnectionInput): Promise<VendorConnection> {
    return this.call<{ vendorConnection: VendorConnection }>(
      "POST",
      `/lock-holders/${enc(lockHolderId)}/vendor-connections`,
      input,
    ).then((a) => a.vendorConnection);
  }

  listVendorConnections(lockHolderId: string): Promise<VendorConnection[]> {
    return this.call<{ vendorConnections: VendorConnection[] }>(
      "GET",
      `/lock-holders/${enc(lockHolderId)}/vendor-connections`,
    ).then((a) => a.vendorConnections);
  }

  getVendorConnection(lockHolderId: string, vendorConnectionId: string): Promise<VendorConnection> {
    return this.call<{ vendorConnection: VendorConnection }>(
      "GET",
      `/lock-holders/${enc(lockHolderId)}/vendor-connections/${enc(vendorConnectionId)}`,
    ).then((a) => a.vendorConnection);
  }

  refreshVendorConnection(lockHolderId: string, vendorConnectionId: string): Promise<VendorConnection> {
    return this.call<{ vendorConnection: VendorConnection }>(
      "PUT",
      `/lock-holders/${enc(lockHolderId)}/vendor-connections/${enc(vendorConnectionId)}/refresh`,
    ).then((a) => a.vendorConnection);
  }

  updateVendorPassword(lockHolderId: string, vendorConnectionId: string, password: string): Promise<VendorConnection> {
    return this.call<{ vendorConnection: VendorConnection }>(
      "PUT",
      `/lock-holders/${enc(lockHolderId)}/vendor-connections/${enc(vendorConnectionId)}/update-password`,
      { password },
    ).then((a) => a.vendorConnection);
  }

  /** The connection as it now reads, `disconnected` (docs/design.md section 4); GET still reads it so. */
  deleteVendorConnection(lockHolderId: string, vendorConnectionId: string): Promise<VendorConnection> {
    return this.call<{ vendorConnection: VendorConnection }>(
      "DELETE",
      `/lock-holders/${enc(lockHolderId)}/vendor-connections/${enc(vendorConnectionId)}`,
    ).then((a) => a.vendorConnection);
  }

  // ── locks ─────────────────────────────────────────────────────────────────────────────────────────────────────

  listLocks(
    lockHolderId: string,
    options: Page & { sort?: "name" | "created"; order?: "asc" | "desc" } = {},
  ): Promise<{ locks: Lock[]; startAfterId?: string }> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}/locks`, undefined, { ...options });
  }

  getLock(lockHolderId: string, lockId: string): Promise<Lock> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}/locks/${enc(lockId)}`);
  }

  patchLock(lockHolderId: string, lockId: string, patch: LockPatch): Promise<Lock> {
    return this.call("PATCH", `/lock-holders/${enc(lockHolderId)}/locks/${enc(lockId)}`, patch);
  }

  /**
   * `POST …/locks/claims`: claims the lock a setup code names (docs/design.md section 7). The claim is `pending` until
   * the lock applies a state signed for it and reports so, then `confirmed`. `created` is false when this lock holder
   * had claimed it already (200); 409 `already_claimed` when another holder's claim stands in the way (the lock
   * confirmed it, or that holder's bridge serves the lock), 422 for a bad code.
   * The code holds the lock's claim secret: it goes only to the cloud, never to a bridge or a log.
   */
  async claimLock(
    lockHolderId: string,
    setupCode: string,
    name?: string,
  ): Promise<{ claim: ClaimedLock; created: boolean }> {
    const path = `/lock-holders/${enc(lockHolderId)}/locks/claims`;
    const answer = await this.request("POST", path, name === undefined ? { setupCode } : { setupCode, name });
    const claim = expectOk<ClaimedLock>("POST", `/integrators/v1${path}`, answer);
    return { claim, created: answer.status === 201 };
  }

  /** The lock holder's authority (created at first use). */
  getAuthority(lockHolderId: string): Promise<Authority> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}/authority`);
  }

  /** A new authority with a hand-over signed by the old one; 409 `rotation_pending` while a lock is still behind. */
  rotateAuthority(lockHolderId: string): Promise<Authority> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/authority/rotate`);
  }

  // ── keys and jobs ─────────────────────────────────────────────────────────────────────────────────────────────

  /** `POST /lock-holders/{lhId}/locks/{lockId}/keys`. */
  createKey(lockHolderId: string, lockId: string, input: KeyInput): Promise<Key> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/locks/${enc(lockId)}/keys`, input);
  }

  /** `POST /lock-holders/{lhId}/keys` with the lock id in the body: the same behaviour as `createKey`. */
  createKeyWithLockId(lockHolderId: string, input: KeyInput & { lockId: string }): Promise<Key> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/keys`, input);
  }

  /** `POST /lock-holders/{lhId}/keys/batch` → the job id (202). */
  async createKeysBatch(lockHolderId: string, keys: Array<KeyInput & { lockId: string }>): Promise<string> {
    const answer = await this.call<{ jobId: string }>("POST", `/lock-holders/${enc(lockHolderId)}/keys/batch`, {
      keys,
    });
    return answer.jobId;
  }

  getJob(jobId: string): Promise<Job> {
    return this.call("GET", `/jobs/${enc(jobId)}`);
  }

  listKeys(lockHolderId: string, page: Page = {}): Promise<{ keys: Key[]; startAfterId?: string }> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}/keys`, undefined, { ...page });
  }

  getKey(lockHolderId: string, keyId: string): Promise<Key> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}/keys/${enc(keyId)}`);
  }

  /**
   * `PATCH …/keys/{keyId}` (issue 14): new terms for the key, keeping its id; what is left out is kept. Tokens minted
   * before an edit that narrows the key are refused at the lock; the holder's next prefetch brings the new terms.
   */
  editKey(lockHolderId: string, keyId: string, edit: KeyEdit): Promise<Key> {
    return this.call("PATCH", `/lock-holders/${enc(lockHolderId)}/keys/${enc(keyId)}`, edit);
  }

  revokeKey(lockHolderId: string, keyId: string): Promise<Key> {
    return this.call("PUT", `/lock-holders/${enc(lockHolderId)}/keys/${enc(keyId)}`, { state: "revoked" });
  }

  // ── remote actions ──────────────────────────────────────────────────────────────────────────────────────────

  /** `POST …/locks/{lockId}/actions` (202): the lock's bridge carries a command the authority signs over its nonce. */
  createAction(lockHolderId: string, lockId: string, action: RemoteActionKind): Promise<RemoteAction> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/locks/${enc(lockId)}/actions`, { action });
  }

  getAction(lockHolderId: string, lockId: string, actionId: string): Promise<RemoteAction> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}/locks/${enc(lockId)}/actions/${enc(actionId)}`);
  }

  listActions(
    lockHolderId: string,
    lockId: string,
    page: Page = {},
  ): Promise<{ actions: RemoteAction[]; startAfterId?: string }> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}/locks/${enc(lockId)}/actions`, undefined, { ...page });
  }

  // ── events and webhooks ───────────────────────────────────────────────────────────────────────────────────────

  /** One page of the lock holder's key events, newest first. */
  listEvents(lockHolderId: string, page: Page = {}): Promise<{ events: KeyEvent[]; startAfterId?: string }> {
    return this.call("GET", `/lock-holders/${enc(lockHolderId)}/events`, undefined, { ...page });
  }

  /** Every key event of the lock holder (all pages), newest first. */
  async allEvents(lockHolderId: string): Promise<KeyEvent[]> {
    const out: KeyEvent[] = [];
    let startAfterId: string | undefined;
    do {
      const page = await this.listEvents(lockHolderId, startAfterId ? { startAfterId } : {});
      out.push(...page.events);
      startAfterId = page.startAfterId;
    } while (startAfterId);
    return out;
  }

  /** Every event type unless `eventTypes` names some (docs/webhooks.md). */
  createWebhook(lockHolderId: string, url: string, eventTypes?: WebhookEventType[]): Promise<CreatedWebhook> {
    return this.call("POST", `/lock-holders/${enc(lockHolderId)}/webhooks`, {
      url,
      ...(eventTypes ? { eventTypes } : {}),
    });
  }

  /** `PATCH …/webhooks/{webhookId}`: new event types, or `paused` (deliveries queue unsent until unpaused). */
  updateWebhook(lockHolderId: string, webhookId: string, patch: WebhookPatch): Promise<Webhook> {
    return this.call("PATCH", `/lock-holders/${enc(lockHolderId)}/webhooks/${enc(webhookId)}`, patch);
  }

  /** Sends one delivery again, with its original webhook-id. */
  replayDelivery(lockHolderId: string, webhookId: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.call(
      "POST",
      `/lock-holders/${enc(lockHolderId)}/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}/replay`,
    );
  }

  /** Sends again the webhook's failed deliveries created at or after `since` (RFC 3339); answers how many. */
  replayFailedDeliveries(lockHolderId: string, webhookId: string, since: string): Promise<number> {
    return this.call<{ replayed: number }>(
      "POST",
      `/lock-holders/${enc(lockHolderId)}/webhooks/${enc(webhookId)}/replay`,
      { since },
    ).then((a) => a.replayed);
  }

  listWebhooks(lockHolderId: string): Promise<Webhook[]> {
    return this.call<{ webhooks: Webhook[] }>("GET", `/lock-holders/${enc(lockHolderId)}/webhooks`).then(
      (a) => a.webhooks,
    );
  }

  async deleteWebhook(lockHolderId: string, webhookId: string): Promise<void> {
    await this.call("DELETE", `/lock-holders/${enc(lockHolderId)}/webhooks/${enc(webhookId)}`);
  }

  webhookDeliveries(lockHolderId: string, webhookId: string): Promise<WebhookDelivery[]> {
    return this.call<{ deliveries: WebhookDelivery[] }>(
      "GET",
      `/lock-holders/${enc(lockHolderId)}/webhooks/${enc(webhookId)}/deliveries`,
    ).then((a) => a.deliveries);
  }

  // ── utilities ─────────────────────────────────────────────────────────────────────────────────────────────────

  /** `POST /phone-numbers/format`: E.164, or ApiError 422 when the number cannot be a mobile number. */
  formatPhoneNumber(phoneNumber: string, countryIso?: string): Promise<string> {
    return this.call<{ phoneNumber: string }>(
      "POST",
      "/phone-numbers/format",
      countryIso === undefined ? { phoneNumber } : { phoneNumber, countryIso },
    ).then((a) => a.phoneNumber);
  }
}
