/** A failed cloud call. `retryable` is true for network failures, timeouts, 408, 429 and 5xx. */
export class CloudError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryable: boolean;

  constructor(operation: string, status: number, code: string, description: string) {
    super(`${operation}: ${status === 0 ? "" : `${status} `}${code}${description ? ` (${description})` : ""}`);
    this.name = "CloudError";
    this.status = status;
    this.code = code;
    this.retryable = status === 0 || status === 408 || status === 429 || status >= 500;
  }
}

/**
 * The cloud refused the bridge's login (`POST /auth/v1/token` answered 401, `invalid_client`): a configuration error,
 * not a passing failure. The message names the settings to fix; the secret itself never appears in it.
 */
export class CredentialsRefusedError extends CloudError {
  constructor(status: number, code: string, description: string) {
    super("token", status, code, description);
    this.name = "CredentialsRefusedError";
    this.message +=
      ": the cloud refused this bridge's credentials; check cloud.secret (LATCHKEY_BRIDGE_CLOUD_SECRET) and " +
      "cloud.bridgeId, then restart the bridge";
  }
}

export const isCloudError = (e: unknown): e is CloudError => e instanceof CloudError;

export const isCredentialsRefused = (e: unknown): e is CredentialsRefusedError => e instanceof CredentialsRefusedError;
