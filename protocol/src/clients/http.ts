/** One HTTP exchange with the cloud: JSON in, JSON out, errors as `{error, errorDescription}` (docs/design.md section 4). */

export interface ApiAnswer<T = unknown> {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined for an empty one (204). */
  body: T;
}

/** A non-2xx answer, with the cloud's error code and description. */
export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly code: string,
    readonly description: string,
  ) {
    super(`${method} ${path}: ${status} ${code}${description ? ` (${description})` : ""}`);
    this.name = "ApiError";
  }
}

export type Query = Record<string, string | number | undefined>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export interface SendOptions {
  headers?: Record<string, string>;
  query?: Query;
}

/**
 * Sends one request to `baseUrl + path` and answers whatever came back, never throwing on a status: negative tests
 * read 4xx answers through this. A body that is not JSON is kept as text.
 */
export async function send<T = unknown>(
  fetchImpl: typeof fetch,
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  options: SendOptions = {},
): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetchImpl(`${baseUrl}${withQuery(path, options.query)}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

/** Throws ApiError unless the answer is 2xx. */
export function expectOk<T>(method: string, path: string, answer: ApiAnswer<unknown>): T {
  if (answer.status >= 200 && answer.status < 300) return answer.body as T;
  const b = (answer.body ?? {}) as { error?: unknown; errorDescription?: unknown };
  throw new ApiError(
    method,
    path,
    answer.status,
    typeof b.error === "string" ? b.error : "http_error",
    typeof b.errorDescription === "string" ? b.errorDescription : typeof answer.body === "string" ? answer.body : "",
  );
}
