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

export const isCloudError = (e: unknown): e is CloudError => e instanceof CloudError;
