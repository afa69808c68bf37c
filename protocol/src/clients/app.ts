import { fromBase64Url, fromHex, toBase64Url } from "../bytes.js";
import type { DeviceSession, VerificationStarted } from "../contracts/index.js";
import { isValidLockId } from "../messages/fields.js";

/**
 * HTTP client for the phone app API (docs/app-api.md), written against the documented contract: the simulated phone
 * (lock-sim) and the tests speak to the cloud through it. Every answer is
 * checked for shape before use; a non-2xx answer becomes an AppApiError carrying the API's `error` code.
 */
export class AppApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    description: string,
  ) {
    super(`${status} ${code}: ${description}`);
    this.name = "AppApiError";
  }
}

// The answers this client passes on as they are: typed by the app API's contract. The keys answer is not: the phone
// keeps decoded bytes, and reads an older cloud's answer (no `states`) too.
export type { DeviceSession as DeviceRegistration, VerificationStarted } from "../contracts/index.js";

export interface AppKey {
  keyId: string;
  lockId: string;
  lockName?: string;
  start?: string | number;
  end?: string | number;
  state: string;
  token: Uint8Array;
  useKeyUrl?: string;
}

/** The latest signed state of a claimed lock the phone's keys open (docs/app-api.md), to carry to the lock. */
export interface AppLockState {
  lockId: string;
  v: number;
  /** COSE_Sign1 by the lock holder's authority (docs/trust.md); the lock verifies it, the phone only carries it. */
  state: Uint8Array;
}

export interface AppKeys {
  userId: string;
  keys: AppKey[];
  issuers: { kid: Uint8Array; x: Uint8Array }[];
  states: AppLockState[];
}

type Json = Record<string, unknown>;

function fail(what: string): never {
  throw new AppApiError(502, "invalid_response", `the app API answered ${what}`);
}

function text(o: Json, name: string, what: string): string {
  const v = o[name];
  if (typeof v !== "string" || v.length === 0) fail(`${what} without a text "${name}"`);
  return v;
}

export class AppApiClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new TypeError(`cloud URL "${baseUrl}" is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError("cloud URL must be http(s)");
    this.base = url.toString().replace(/\/+$/, "");
  }

  async requestVerification(phoneNumber: string, countryIso?: string): Promise<VerificationStarted> {
    const body: Json = { phoneNumber };
    if (countryIso !== undefined) body.countryIso = countryIso;
    const o = await this.call("POST", "/app/v1/verification", body);
    const expiresIn = o.expiresIn;
    return {
      verificationId: text(o, "verificationId", "a verification"),
      expiresIn: typeof expiresIn === "number" ? expiresIn : fail('a verification without "expiresIn"'),
    };
  }

  async confirm(
    verificationId: string,
    input: { code: string; devicePublicKey: string; deviceName?: string },
  ): Promise<DeviceSession> {
    const o = await this.call("POST", `/app/v1/verification/${encodeURIComponent(verificationId)}/confirm`, input);
    const tokenType = typeof o.tokenType === "string" ? o.tokenType.toLowerCase() : "";
    if (tokenType !== "bearer") fail('a registration whose tokenType is not "bearer"');
    return {
      deviceId: text(o, "deviceId", "a registration"),
      accessToken: text(o, "accessToken", "a registration"),
      tokenType: "bearer",
      expiresIn: typeof o.expiresIn === "number" ? o.expiresIn : 0,
      userId: text(o, "userId", "a registration"),
    };
  }

  async keys(accessToken: string): Promise<AppKeys> {
    const o = await this.call("GET", "/app/v1/keys", undefined, accessToken);
    if (!Array.isArray(o.keys)) fail('keys without a "keys" array');
    if (!Array.isArray(o.issuers)) fail('keys without an "issuers" array');
    const keys = (o.keys as Json[]).map((k, i): AppKey => {
      if (k === null || typeof k !== "object") fail(`keys[${i}] that is not an object`);
      const lockId = text(k, "lockId", `keys[${i}]`);
      if (!isValidLockId(lockId)) fail(`keys[${i}] with an invalid lockId`);
      let token: Uint8Array;
      try {
        token = fromBase64Url(text(k, "token", `keys[${i}]`));
      } catch {
        fail(`keys[${i}] whose token is not base64url`);
      }
      const key: AppKey = {
        keyId: text(k, "keyId", `keys[${i}]`),
        lockId,
        state: text(k, "state", `keys[${i}]`),
        token,
      };
      if (typeof k.lockName === "string") key.lockName = k.lockName;
      if (typeof k.start === "string" || typeof k.start === "number") key.start = k.start;
      if (typeof k.end === "string" || typeof k.end === "number") key.end = k.end;
      if (typeof k.useKeyUrl === "string") key.useKeyUrl = k.useKeyUrl;
      return key;
    });
    const issuers = (o.issuers as Json[]).map((i, n) => {
      try {
        return { kid: fromHex(text(i, "kid", `issuers[${n}]`)), x: fromHex(text(i, "x", `issuers[${n}]`)) };
      } catch (e) {
        if (e instanceof AppApiError) throw e;
        return fail(`issuers[${n}] that is not hex`);
      }
    });
    // A cloud from before signed states sends none; one that sends them must send them well formed.
    if (o.states !== undefined && !Array.isArray(o.states)) fail('keys whose "states" is not an array');
    const states = ((o.states ?? []) as Json[]).map((st, n): AppLockState => {
      if (st === null || typeof st !== "object") fail(`states[${n}] that is not an object`);
      const lockId = text(st, "lockId", `states[${n}]`);
      if (!isValidLockId(lockId)) fail(`states[${n}] with an invalid lockId`);
      if (!Number.isSafeInteger(st.v) || (st.v as number) < 0) fail(`states[${n}] without an integer "v"`);
      try {
        return { lockId, v: st.v as number, state: fromBase64Url(text(st, "state", `states[${n}]`)) };
      } catch (e) {
        if (e instanceof AppApiError) throw e;
        return fail(`states[${n}] whose state is not base64url`);
      }
    });
    return { userId: text(o, "userId", "keys"), keys, issuers, states };
  }

  /** A cloud-hosted test lock's challenge (docs/app-api.md step 5): a 16-byte nonce. */
  async virtualChallenge(accessToken: string, lockId: string): Promise<Uint8Array> {
    const o = await this.call("POST", `/app/v1/virtual-locks/${encodeURIComponent(lockId)}/challenge`, {}, accessToken);
    try {
      const nonce = fromBase64Url(text(o, "nonce", "a challenge"));
      if (nonce.length !== 16) fail("a challenge whose nonce is not 16 bytes");
      return nonce;
    } catch (e) {
      if (e instanceof AppApiError) throw e;
      return fail("a challenge whose nonce is not base64url");
    }
  }

  /** Opens a cloud-hosted test lock; a refusal (403) is an AppApiError whose `code` is the verification code. */
  async virtualUnlock(
    accessToken: string,
    lockId: string,
    input: { token: Uint8Array; proof: Uint8Array; nonce: Uint8Array },
  ): Promise<{ result: string; eventId?: string }> {
    const body = { token: toBase64Url(input.token), proof: toBase64Url(input.proof), nonce: toBase64Url(input.nonce) };
    const o = await this.call("POST", `/app/v1/virtual-locks/${encodeURIComponent(lockId)}/unlock`, body, accessToken);
    const answer: { result: string; eventId?: string } = { result: text(o, "result", "an unlock") };
    if (typeof o.eventId === "string") answer.eventId = o.eventId;
    return answer;
  }

  async forgetDevice(accessToken: string): Promise<void> {
    await this.call("DELETE", "/app/v1/device", undefined, accessToken);
  }

  private async call(method: string, path: string, body?: unknown, accessToken?: string): Promise<Json> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (accessToken !== undefined) headers.authorization = `Bearer ${accessToken}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.base}${path}`, init);
    } catch (e) {
      throw new AppApiError(0, "unreachable", `${method} ${this.base}${path} failed: ${(e as Error).message}`);
    }
    const raw = await response.text();
    let parsed: unknown;
    try {
      parsed = raw.length === 0 ? {} : JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const o = (parsed ?? {}) as Json;
      const code = typeof o.error === "string" ? o.error : `http_${response.status}`;
      const description = typeof o.errorDescription === "string" ? o.errorDescription : response.statusText;
      throw new AppApiError(response.status, code, description);
    }
    if (parsed === undefined || parsed === null || typeof parsed !== "object") fail(`${method} ${path} with no JSON`);
    return parsed as Json;
  }
}
