import { type Static, type TObject, type TProperties, type TSchema, Type } from "@sinclair/typebox";

/** Objects are closed: an unknown field is a 400, never silently dropped. */
export const Obj = <T extends TProperties>(properties: T, options: Record<string, unknown> = {}): TObject<T> =>
  Type.Object(properties, { additionalProperties: false, ...options });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: "machine-readable code" }),
    errorDescription: Type.String({ description: "what was wrong, for people" }),
  },
  { $id: "Error", title: "Error" },
);
export type ErrorBody = Static<typeof ErrorBody>;

const ERROR_TEXT: Record<number, string> = {
  400: "malformed request: bad JSON, unknown field, wrong type, bad pagination",
  401: "missing, unknown or expired access token",
  403: "the token may not do this",
  404: "no such resource (or not yours)",
  409: "conflict",
  410: "gone",
  413: "body too large",
  414: "a path parameter is too long for the router",
  415: "the body is not JSON (send content-type: application/json)",
  422: "a parameter is well-formed but not acceptable (e.g. a phone number)",
  429: 'too many requests (docs/app-api.md "Limits"): wait the Retry-After seconds',
};

/** Every 429 says when to come back (@fastify/swagger lists `headers` as the response's headers). */
const RETRY_AFTER = {
  "retry-after": Type.Integer({ minimum: 0, description: "seconds to wait before trying again" }),
};

/** Error answers for the OpenAPI document and for serialization. */
export function errors(...codes: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const code of [401, 403, ...codes]) {
    out[code] = Type.Ref(ErrorBody, {
      description: ERROR_TEXT[code] ?? "error",
      ...(code === 429 ? { headers: RETRY_AFTER } : {}),
    });
  }
  return out;
}

/** An error answer's example for the OpenAPI document: `{error, errorDescription}` as the route sends it. */
export interface ErrorExample {
  /** The example's name in the document; default the error code. */
  name?: string;
  summary: string;
  error: string;
  errorDescription: string;
}

/**
 * Error answers (as `errors`) with examples per status, for routes whose error codes a client acts on: each status
 * listed gets the Error shape inline with its `x-examples` (a `$ref` cannot carry examples in OpenAPI 3.0).
 */
export function errorsWithExamples(
  examples: Record<number, ErrorExample[]>,
  ...codes: number[]
): Record<number, TSchema> {
  const out = errors(...codes, ...Object.keys(examples).map(Number));
  for (const [code, list] of Object.entries(examples)) {
    out[Number(code)] = Type.Object(
      { error: Type.String(), errorDescription: Type.String() },
      {
        description: ERROR_TEXT[Number(code)] ?? "error",
        "x-examples": Object.fromEntries(
          list.map((e) => [
            e.name ?? e.error,
            { summary: e.summary, value: { error: e.error, errorDescription: e.errorDescription } },
          ]),
        ),
      },
    );
  }
  return out;
}

/** Path ids are free text here: an id that names nothing (or something not yours) is a 404, not a 400. */
export const IdParam = Type.String({ minLength: 1, maxLength: 128 });

export const PageQuery = {
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 2500, default: 2500, description: "page size, at most 2500" }),
  ),
  startAfterId: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: "the startAfterId of the previous page" }),
  ),
};

export const PageCursor = Type.Optional(
  Type.String({ description: "present while more remains: pass as startAfterId to get the next page" }),
);

export const IsoTime = Type.String({ format: "date-time" });
export const Timestamp = Type.String({ format: "date-time", description: "ISO 8601, UTC" });

export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));
