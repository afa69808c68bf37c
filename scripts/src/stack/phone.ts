import { AppApiError, Phone, type PhoneKey, type UnlockOutcome } from "@latchkey/lock-sim";
import { fromHex } from "@latchkey/protocol";
import type { UnlockVia } from "./ble-transport.js";

/**
 * The stack's phone: a lock-sim Phone whose device key is kept in the data directory (so the cloud knows the same
 * device after a restart), registered through the app API with the one-time code the cloud logs.
 */
export interface PhoneState {
  number: string;
  deviceSeed: string;
  accessToken?: string;
}

/** Where the one-time code comes from: the cloud's development sender logs it. */
export interface OneTimeCodes {
  /** A mark taken before the code is requested, so only a newer code is accepted. */
  mark(): number;
  code(phoneNumber: string, since: number): Promise<string>;
}

export class StackPhone {
  readonly phone: Phone;

  constructor(
    private readonly state: PhoneState,
    private readonly onRegistered: (accessToken: string) => void,
  ) {
    this.phone = new Phone({ deviceSeed: fromHex(state.deviceSeed) });
    if (state.accessToken !== undefined) this.phone.accessToken = state.accessToken;
  }

  get number(): string {
    return this.state.number;
  }

  /** Proves the number with a one-time code and registers the device key (docs/app-api.md steps 1–2). */
  async register(apiUrl: string, codes: OneTimeCodes): Promise<void> {
    const since = codes.mark();
    const started = await this.phone.requestVerification(apiUrl, this.state.number);
    const code = await codes.code(this.state.number, since);
    const registration = await this.phone.confirm(apiUrl, started.verificationId, code, "latchkey stack phone");
    this.onRegistered(registration.accessToken);
  }

  /** Registers unless a stored access token still works; answers whether it registered now. */
  async ensureRegistered(apiUrl: string, codes: OneTimeCodes): Promise<boolean> {
    if (this.phone.accessToken !== undefined) {
      try {
        await this.phone.prefetch(apiUrl);
        return false;
      } catch (e) {
        if (!(e instanceof AppApiError && e.status === 401)) throw e;
      }
    }
    await this.register(apiUrl, codes);
    return true;
  }

  /** Downloads every key of this number (GET /app/v1/keys); registers again if the access token has expired. */
  async prefetch(apiUrl: string, codes: OneTimeCodes): Promise<PhoneKey[]> {
    try {
      return await this.phone.prefetch(apiUrl);
    } catch (e) {
      if (!(e instanceof AppApiError && e.status === 401)) throw e;
      await this.register(apiUrl, codes);
      return this.phone.prefetch(apiUrl);
    }
  }

  /** Opens a lock over BLE (the virtual radio, or noble on an emulated adapter) with the tokens it holds: no network. */
  unlock(lockId: string, via: UnlockVia): Promise<UnlockOutcome> {
    return this.phone.unlock(lockId, via);
  }

  close(): void {
    this.phone.close();
  }
}
