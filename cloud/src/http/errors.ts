import type { FastifyError, FastifyInstance } from "fastify";
import { DomainError, type DomainErrorKind } from "../domain/errors.js";
import { UnknownCursorError } from "../store/errors.js";

/**
 * Every error answer is `{error, errorDescription}` (docs/design.md section 4). The rules throw DomainError, answered
 * with the status DOMAIN_STATUS gives its kind; what only HTTP knows (credentials, the shape of a request) throws
 * ApiError with its own status. Anything else that reaches the handler is mapped to a 4xx when fastify knows what was
 * wrong, or to a 500 that says nothing more.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    readonly errorDescription: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(errorDescription);
    this.name = "ApiError";
  }
}

export const unauthorized = (description: string) =>
  new ApiError(401, "unauthorized", description, { "www-authenticate": 'Bearer realm="latchkey"' });

/** The one table from a domain refusal to its HTTP status. */
export const DOMAIN_STATUS: Record<DomainErrorKind, number> = {
  invalid: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  rate_limited: 429,
};

/** Validation failures raised by our schema compiler: they name the part and the field. */
export class RequestValidationError extends Error {
  readonly statusCode = 400;
  constructor(message: string) {
    super(message);
    this.name = "RequestValidationError";
  }
}

const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, "payload_too_large"],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, "unsupported_media_type"],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, "invalid_request"],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, "malformed_json"],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, "malformed_json"],
  FST_ERR_BAD_URL: [400, "invalid_request"],
  FST_ERR_ASYNC_CONSTRAINT: [400, "invalid_request"],
};

export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send({ error: "not_found", errorDescription: `no route ${request.method} ${request.url.split("?")[0]}` });
  });

  app.setErrorHandler((err: FastifyError | ApiError | Error, request, reply) => {
    if (err instanceof ApiError) {
      reply
        .headers(err.headers)
        .code(err.statusCode)
        .send({ error: err.error, errorDescription: err.errorDescription });
      return;
    }
    if (err instanceof DomainError) {
      if (err.retryAfterMs !== undefined)
        reply.header("retry-after", String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
      reply.code(DOMAIN_STATUS[err.kind]).send({ error: err.code, errorDescription: err.message });
      return;
    }
    if (err instanceof UnknownCursorError) {
      reply.code(400).send({ error: "invalid_request", errorDescription: err.message });
      return;
    }
    const fe = err as FastifyError & { validationContext?: string };
    if (fe.code === "FST_ERR_VALIDATION" || err instanceof RequestValidationError) {
      reply.code(400).send({ error: "invalid_request", errorDescription: err.message });
      return;
    }
    const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (known) {
      reply.code(known[0]).send({ error: known[1], errorDescription: fe.message });
      return;
    }
    if (err instanceof SyntaxError && fe.statusCode === 400) {
      reply.code(400).send({ error: "malformed_json", errorDescription: `the body is not valid JSON: ${err.message}` });
      return;
    }
    if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
      reply.code(fe.statusCode).send({ error: "invalid_request", errorDescription: fe.message });
      return;
    }
    request.log.error({ err }, "request failed");
    reply.code(500).send({ error: "server_error", errorDescription: "the server could not complete the request" });
  });
}
