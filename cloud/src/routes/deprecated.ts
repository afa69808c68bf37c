import { ErrorBody } from "@latchkey/protocol/contracts";
import { Type } from "@sinclair/typebox";
import { ApiError } from "../http/errors.js";
import type { TypedApp } from "../http/typed.js";

const ALTERNATIVE = "/integrators/v1/lock-holders/{lockHolderId}/keys";

/** Deprecated on 2025-01-01 (RFC 9745 wants a structured-field date: `@` and unix seconds)... */
const DEPRECATED = "@1735689600";
/**
 * ...and gone the same day (RFC 8594 Sunset, an HTTP-date): latchkey never served it, so the sunset is already past,
 * which tells a client's deprecation tooling the endpoint will not come back.
 */
const SUNSET = new Date(1_735_689_600_000).toUTCString();

/** "Request a Key" is deprecated (changelog): 410 Gone, with a Deprecation header and a link to what replaces it. */
export function deprecatedRoutes(app: TypedApp): void {
  const gone = async (): Promise<never> => {
    throw new ApiError(
      410,
      "deprecated",
      `"Request a Key" is deprecated and no longer available: create keys with POST ${ALTERNATIVE} instead`,
      {
        deprecation: DEPRECATED,
        sunset: SUNSET,
        link: `<${ALTERNATIVE}>; rel="alternate"`,
      },
    );
  };
  const schema = {
    tags: ["deprecated"],
    summary: "Request a Key (deprecated: 410)",
    deprecated: true,
    response: {
      // OpenAPI 3.0 header schemas take one `example` (an `examples` array is 3.1).
      410: Type.Ref(ErrorBody, {
        description: "gone: create keys with POST /integrators/v1/lock-holders/{lockHolderId}/keys",
        headers: {
          deprecation: Type.String({ description: "RFC 9745: when it was deprecated", example: DEPRECATED }),
          sunset: Type.String({ description: "RFC 8594: when it stopped working (past)", example: SUNSET }),
          link: Type.String({
            description: 'rel="alternate": what replaces it',
            example: `<${ALTERNATIVE}>; rel="alternate"`,
          }),
        },
      }),
    },
  };
  // One schema object per route: the OpenAPI hook (http/openapi.ts) adds each route's own error answers to it.
  const route = (operationId: string) => ({ ...schema, operationId, response: { ...schema.response } });
  app.post(
    "/service-providers/v1/key-requests",
    { config: { auth: "public" }, schema: route("requestKeyDeprecated") },
    gone,
  );
  app.get(
    "/service-providers/v1/key-requests-options/:msn",
    { config: { auth: "public" }, schema: route("keyRequestOptionsDeprecated") },
    gone,
  );
}
