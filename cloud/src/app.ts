import { STATUS_CODES } from "node:http";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { ErrorBody } from "@latchkey/protocol/contracts";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from "fastify";
import type { Logger } from "pino";
import type { CloudContext } from "./context.js";
import { invalid } from "./domain/errors.js";
import { installAuth } from "./http/auth.js";
import { installErrorHandling } from "./http/errors.js";
import { installOpenApiContract } from "./http/openapi.js";
import { sharedSerializers } from "./http/serialization.js";
import { type TypedApp, typed } from "./http/typed.js";
import { typeboxValidatorCompiler } from "./http/validation.js";
import { appKeyRoutes } from "./routes/app/keys.js";
import { verificationRoutes } from "./routes/app/verification.js";
import { virtualLockRoutes } from "./routes/app/virtual-locks.js";
import { authRoutes, tokenRateLimitError } from "./routes/auth.js";
import { bridgeActionRoutes } from "./routes/bridge/actions.js";
import { changeFeedRoutes } from "./routes/bridge/changes.js";
import { ingestRoutes } from "./routes/bridge/ingest.js";
import { lockReportRoutes } from "./routes/bridge/lock-reports.js";
import { reportRoutes } from "./routes/bridge/reports.js";
import { trustCourierRoutes } from "./routes/bridge/trust.js";
import { deprecatedRoutes } from "./routes/deprecated.js";
import { actionRoutes } from "./routes/integrator/actions.js";
import { activityRoutes } from "./routes/integrator/activity.js";
import { bridgeRoutes } from "./routes/integrator/bridges.js";
import { clientRoutes } from "./routes/integrator/clients.js";
import { keyRoutes } from "./routes/integrator/keys.js";
import { lockHolderRoutes } from "./routes/integrator/lock-holders.js";
import { lockRoutes } from "./routes/integrator/locks.js";
import { trustRoutes } from "./routes/integrator/trust.js";
import { vendorConnectionRoutes } from "./routes/integrator/vendor-connections.js";

export const API_VERSION = "0.1.0";

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The fastify application: plugins, schemas, auth and every route. No listening, no workers. */
export async function buildApp(ctx: CloudContext, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    bodyLimit: 256 * 1024,
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    requestIdHeader: "x-request-id",
    genReqId: () => ctx.ids.next("msg").replace("msg_", "req_"),
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    schemaController: { compilersFactory: { buildSerializer: sharedSerializers } },
    // URLs the router cannot take (bad percent-encoding, a parameter over maxParamLength) get the API's error shape too.
    frameworkErrors: (err, _request, reply) => {
      (reply as unknown as FastifyReply)
        .code(err.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : 400)
        .send({ error: "invalid_request", errorDescription: err.message });
    },
    // Requests Node's HTTP parser refuses (headers too large, broken framing) never reach a route: answer in the same shape.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (err.code === "ECONNRESET" || socket.destroyed) return;
      const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
      const body = JSON.stringify({
        error: "invalid_request",
        errorDescription: `the HTTP request was refused (${status})`,
      });
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `Content-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(err);
    },
  });
  app.setValidatorCompiler(typeboxValidatorCompiler);
  // JSON only: a text/plain body is refused (415) rather than read as a string.
  app.removeContentTypeParser("text/plain");
  app.addSchema(ErrorBody);
  installErrorHandling(app);
  installAuth(app, ctx);

  // JSON is UTF-8 (RFC 8259): invalid bytes are refused, not silently replaced by U+FFFD and stored.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    // No body at all with a JSON content type (clients send the header on every PUT/POST, `PUT …/refresh` included)
    // is no body: validation then reads it as {} where the route takes one whose fields are all optional, and refuses it
    // naming `body` where a field is required.
    if ((body as Buffer).length === 0) {
      done(null, undefined);
      return;
    }
    let text: string;
    try {
      text = STRICT_UTF8.decode(body as Buffer);
    } catch {
      done(invalid("the body is not valid UTF-8", "malformed_json"), undefined);
      return;
    }
    // A JSON `null` is a body, not "no body": every body of this API is an object, so it is refused like any non-object.
    parseJson(request, text, (err, value) => {
      if (err) return done(err, undefined);
      if (value === null) return done(invalid("body: Expected object"), undefined);
      // Validation and storage walk the body recursively: a deeply nested one would overflow their stack.
      if (nestsDeeperThan(value, MAX_JSON_DEPTH))
        return done(invalid(`body: nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      done(null, value);
    });
  });
  app.addHook("onSend", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "latchkey cloud API",
        version: API_VERSION,
        description:
          "Integrator API (/integrators/v1, modelled on Unloc's Integrator API v1), bridge API (/bridge/v1) and phone app " +
          "API (/app/v1). Get a token at POST /auth/v1/token, then send `Authorization: Bearer <token>`. Errors are " +
          "`{error, errorDescription}`.",
        license: { name: "Apache-2.0", url: "https://www.apache.org/licenses/LICENSE-2.0" },
      },
      // The document is served by the cloud it describes: paths are relative to wherever it was fetched from.
      servers: [{ url: "/", description: "this cloud" }],
      components: {
        // Descriptions are Markdown in the docs page: a bare <token> would be read as an HTML tag and vanish, so it
        // stays in a code span (issue 15 item 14).
        securitySchemes: {
          bearer: {
            type: "http",
            scheme: "bearer",
            description: "`Authorization: Bearer <token>`, the access token from POST /auth/v1/token (or the app's).",
          },
          clientBasic: {
            type: "http",
            scheme: "basic",
            description:
              "POST /auth/v1/token only: `Authorization: Basic base64(client_id:client_secret)` (RFC 6749 section 2.3.1)",
          },
        },
      },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    uiConfig: { deepLinking: true, tryItOutEnabled: true },
    // The page's title in the browser's tab and history: ours, not "Swagger UI".
    theme: { title: "latchkey cloud API" },
  });

  // Public routes say so in the OpenAPI document (no bearer token), so clients generated from it send none; the token
  // route names its own (client credentials, optionally as HTTP Basic).
  app.addHook("onRoute", (route) => {
    if (route.config?.auth === "public" && route.schema) route.schema.security ??= [];
  });
  installOpenApiContract(app);

  await app.register(async (auth) => {
    // OAuth2 clients commonly post the token request form-encoded (RFC 6749); every other route takes JSON only.
    auth.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    await auth.register(rateLimit, { global: false, errorResponseBuilder: tokenRateLimitError });
    authRoutes(typed(auth), ctx);
  });
  // Each API under its prefix; routes are declared in this order (the OpenAPI document lists them so).
  const api = (prefix: string, ...routes: Array<(scope: TypedApp, ctx: CloudContext) => void>) =>
    app.register(
      async (scope) => {
        for (const declare of routes) declare(typed(scope), ctx);
      },
      { prefix },
    );
  await api(
    "/integrators/v1",
    lockHolderRoutes,
    clientRoutes,
    bridgeRoutes,
    vendorConnectionRoutes,
    lockRoutes,
    trustRoutes,
    keyRoutes,
    actionRoutes,
    activityRoutes,
  );
  await api(
    "/bridge/v1",
    changeFeedRoutes,
    reportRoutes,
    ingestRoutes,
    lockReportRoutes,
    trustCourierRoutes,
    bridgeActionRoutes,
  );
  await api("/app/v1", verificationRoutes, appKeyRoutes, virtualLockRoutes);
  deprecatedRoutes(typed(app));
  app.get("/health", { config: { auth: "public" }, schema: { hide: true } }, async () => ({ status: "ok" }));
  return app;
}

/** No body of this API needs more; metadata is the only free-form part. */
const MAX_JSON_DEPTH = 32;

/** Whether arrays and objects in `value` nest more than `max` deep (iterative: the input is untrusted). */
function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth > max) return true;
    for (const child of Object.values(v))
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
  }
  return false;
}
