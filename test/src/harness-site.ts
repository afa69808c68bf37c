import type { LockOptions, SimLock } from "@latchkey/lock-sim";
import type { CloudCredentials, IntegratorClient } from "@latchkey/scripts";
import type { SiteHarness } from "@latchkey/scripts/site";

/**
 * The one site harness under the names the suites' tests use. E2eSite and ReliabilitySite each add their cloud and
 * bridge (the processes of the end-to-end suite, the in-process cloud of the reliability suite) and their waits.
 */
export abstract class HarnessSite {
  protected constructor(readonly harness: SiteHarness) {}

  get client(): IntegratorClient {
    return this.harness.client;
  }

  get creds(): CloudCredentials {
    return this.harness.credentials;
  }

  get lockHolderId(): string {
    return this.harness.lockHolderId;
  }

  get bridgeId(): string {
    return this.harness.bridgeId;
  }

  get bridgeSecret(): string {
    return this.harness.bridgeSecret;
  }

  /** The secret the bridge's next start logs in with (after a rotation, as an operator moves it). */
  set bridgeSecret(secret: string) {
    this.harness.bridgeSecret = secret;
  }

  get vendorConnectionId(): string {
    return this.harness.vendorConnectionId;
  }

  get siteSecret(): string {
    return this.harness.siteSecret;
  }

  get locks(): SimLock[] {
    return this.harness.locks;
  }

  get dir(): string {
    return this.harness.dir;
  }

  get apiPort(): number {
    return this.harness.apiPort;
  }

  get mqttPort(): number {
    return this.harness.mqttPort;
  }

  get metricsPort(): number {
    return this.harness.metricsPort;
  }

  get apiUrl(): string {
    return this.harness.apiUrl;
  }

  /** A simulated lock of this site (flash in the site's directory), claimed unless the site says otherwise. */
  startLock(lockId: string, extra: Partial<LockOptions> = {}): Promise<SimLock> {
    return this.harness.startLock(lockId, extra);
  }

  /**
   * Claims `lock` for the site's lock holder with the setup code on its label, through the Integrator API (never the
   * bridge; docs/design.md section 7). Again after a restart or a factory reset it answers 200. With the cloud down it
   * is posted at its restart.
   */
  claim(lock: SimLock): Promise<void> {
    return this.harness.claim(lock);
  }
}
