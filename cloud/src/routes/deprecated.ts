import type { FastifyInstance } from "fastify";
import { ApiError } from "../http/errors.js";
import { errors } from "../schemas/common.js";

const ALTERNATIVE = "/integrators/v1/lock-holders/{lockHolderId}/keys";

/** "Request a Key" is deprecated (changelog): 410 Gone, with a Deprecation header and a link to what replaces it. */
export function deprecatedRoutes(app: FastifyInstance): void {
  const gone = async (): Promise<never> => {
    throw new ApiError(
      410,
      "deprecated",
      `"Request a Key" is deprecated and no longer available: create keys with POST ${ALTERNATIVE} instead`,
      {
        // RFC 9745: the date it was deprecated (2025-01-01), as a structured-field date.
        deprecation: "@1735689600",
        link: `<${ALTERNATIVE}>; rel="alternate"`,
      },
    );
  };
  const schema = {
    tags: ["deprecated"],
    summary: "Request a Key (deprecated: 410)",
    deprecated: true,
    response: errors(410),
  };
  app.post("/service-providers/v1/key-requests", { config: { auth: "public" }, schema }, gone);
  app.get("/service-providers/v1/key-requests-options/:msn", { config: { auth: "public" }, schema }, gone);
}
