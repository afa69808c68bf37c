import type { TokenAnswer } from "../contracts/index.js";
import { type ApiAnswer, expectOk, type SendOptions, send } from "./http.js";

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** Default `integrator.admin`; or `lockHolder.admin:<lockHolderId>`, or `bridge`. */
  scope?: string;
}

export interface ClientOptions {
  fetch?: typeof fetch;
}

/** `POST /auth/v1/token` (OAuth2 client credentials). */
export async function requestAccessToken(
  apiUrl: string,
  credentials: ClientCredentials,
  options: ClientOptions = {},
): Promise<TokenAnswer> {
  const answer = await send(options.fetch ?? fetch, apiUrl, "POST", "/auth/v1/token", {
    grant_type: "client_credentials",
    client_id: credentials.clientId,
    client_secret: credentials.clientSecret,
    scope: credentials.scope ?? "integrator.admin",
  });
  return expectOk<TokenAnswer>("POST", "/auth/v1/token", answer);
}

/**
 * What the Integrator API's and the bridge API's clients share: a bearer token from client credentials, renewed once
 * when a call answers 401 (it expired), and calls under one base path.
 */
export class BearerClient {
  private token: string | undefined;
  protected readonly fetchImpl: typeof fetch;
  readonly apiUrl: string;

  /** Not logged in yet: `login` (or `refreshToken`) first. */
  constructor(
    apiUrl: string,
    protected credentials: ClientCredentials,
    /** The API's base path, e.g. `/integrators/v1`. */
    protected readonly base: string,
    options: ClientOptions = {},
  ) {
    this.apiUrl = apiUrl.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** A logged-in client of the class it is called on (a subclass's `login` answers the subclass). */
  static async login<K, C extends BearerClient>(
    this: new (
      apiUrl: string,
      credentials: K,
      options?: ClientOptions,
    ) => C,
    apiUrl: string,
    credentials: K,
    options: ClientOptions = {},
  ): Promise<C> {
    const client = new this(apiUrl, credentials, options);
    await client.refreshToken();
    return client;
  }

  /** The current bearer token (for curl lines and raw calls). */
  get accessToken(): string {
    if (this.token === undefined) throw new Error("not logged in");
    return this.token;
  }

  async refreshToken(): Promise<string> {
    const answer = await requestAccessToken(this.apiUrl, this.credentials, { fetch: this.fetchImpl });
    this.token = answer.access_token;
    return this.token;
  }

  /** Any call under the base path (or an absolute API path with `absolute`), any status. */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: SendOptions & { absolute?: boolean } = {},
  ): Promise<ApiAnswer<T>> {
    const full = options.absolute ? path : `${this.base}${path}`;
    const call = () =>
      send<T>(this.fetchImpl, this.apiUrl, method, full, body, {
        ...options,
        headers: { authorization: `Bearer ${this.accessToken}`, ...options.headers },
      });
    const answer = await call();
    if (answer.status !== 401) return answer;
    await this.refreshToken();
    return call();
  }

  /** A call under the base path that must answer 2xx (ApiError otherwise). */
  protected async ok<T>(method: string, path: string, body?: unknown, options: SendOptions = {}): Promise<T> {
    return expectOk<T>(method, `${this.base}${path}`, await this.request(method, path, body, options));
  }
}
