import { errors } from "@latchkey/protocol/contracts";
import type { TObject, TSchema } from "@sinclair/typebox";
import type { FastifyInstance, RouteOptions } from "fastify";

/**
 * The OpenAPI document as a contract (issue 14): every status an operation can answer is declared. What a route can
 * answer because of how it is built is added here once, from what the route declares, so no route forgets one:
 *
 * - a method that carries a body (fastify parses one on POST, PUT, PATCH and DELETE whatever the route's schema says):
 *   400 (malformed JSON), 413 (over the body limit), 415 (not JSON);
 * - a querystring or path parameters: 400 (they are validated);
 * - path parameters: 404 (an id that names nothing, or nothing of the caller's) and 414 (a parameter over the router's
 *   maxParamLength, app.ts `frameworkErrors`);
 * - a route that takes a token (`config.auth` other than `public`): 401 and 403 (installAuth).
 *
 * What only the route knows (409, 422, 429, a 401 on a public route) the route declares itself, with `errors(…)`;
 * statuses it declares are kept as they are (with their examples).
 */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Examples for path parameters, by name: ids look like this (security/ids.ts: prefix, then a 26-character ULID). */
const PATH_EXAMPLES: Record<string, string> = {
  lockHolderId: "lh_01kbz3q2e6x4m9v7c5t8r2w1na",
  integratorId: "int_01kbz3q2e6x4m9v7c5t8r2w1nb",
  clientId: "cl_01kbz3q2e6x4m9v7c5t8r2w1nc",
  bridgeId: "br_01kbz3q2e6x4m9v7c5t8r2w1nd",
  vendorConnectionId: "vc_01kbz3q2e6x4m9v7c5t8r2w1ne",
  keyId: "key_01kbz3q2e6x4m9v7c5t8r2w1nf",
  webhookId: "wh_01kbz3q2e6x4m9v7c5t8r2w1ng",
  deliveryId: "msg_01kbz3q2e6x4m9v7c5t8r2w1nm",
  jobId: "job_01kbz3q2e6x4m9v7c5t8r2w1nh",
  actionId: "act_01kbz3q2e6x4m9v7c5t8r2w1nj",
  verificationId: "ver_01kbz3q2e6x4m9v7c5t8r2w1nk",
  kid: "3f9a0c21d4e87b65",
  lockId: "sim-lock-001",
  msn: "0123456789",
};

/** The statuses a route can answer because of its method, its inputs and its auth (see above), ascending. */
export function implicitStatuses(route: Pick<RouteOptions, "method" | "schema" | "config">): number[] {
  const methods = ([] as string[]).concat(route.method);
  const schema = route.schema ?? {};
  const codes = new Set<number>();
  if (methods.some((m) => BODY_METHODS.has(m))) for (const c of [400, 413, 415]) codes.add(c);
  if (schema.querystring) codes.add(400);
  if (schema.params) for (const c of [400, 404, 414]) codes.add(c);
  const auth = (route.config as { auth?: string } | undefined)?.auth;
  if (auth !== undefined && auth !== "public") for (const c of [401, 403]) codes.add(c);
  return [...codes].sort((a, b) => a - b);
}

/** A copy of a params schema whose properties carry an example (the shared IdParam schema stays untouched). */
function withPathExamples(params: TObject): TObject {
  const properties: Record<string, TSchema> = {};
  for (const [name, schema] of Object.entries(params.properties)) {
    const example = PATH_EXAMPLES[name];
    properties[name] =
      example !== undefined && schema.examples === undefined ? { ...schema, examples: [example] } : schema;
  }
  return { ...params, properties } as TObject;
}

/** What each success status means in this API (docs/design.md section 4: 202 starts background work to poll). */
const SUCCESS_MEANING: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted: the work goes on in the background",
  204: "Done, no body",
};

/**
 * A success answer's description: the route's own if it gave one, else what the status means and what the operation
 * does (its summary), so the document never says @fastify/swagger's "Default Response".
 */
export function successDescription(status: number, summary: string | undefined): string {
  const meaning = SUCCESS_MEANING[status] ?? `Success (${status})`;
  return summary ? `${meaning}: ${summary.charAt(0).toLowerCase()}${summary.slice(1)}` : meaning;
}

/** A copy of each 2xx schema without a description, given one (shared TypeBox schemas stay untouched). */
function describeSuccesses(response: Record<string, unknown>, summary: string | undefined): void {
  for (const [code, schema] of Object.entries(response)) {
    const status = Number(code);
    if (!(status >= 200 && status < 300) || schema === null || typeof schema !== "object") continue;
    if ("description" in schema && typeof schema.description === "string") continue;
    response[code] = { ...schema, description: successDescription(status, summary) };
  }
}

/** Installs the hook on `app`: it applies to every route declared after it, in every child scope. */
export function installOpenApiContract(app: FastifyInstance): void {
  app.addHook("onRoute", (route) => {
    const schema = route.schema as (typeof route.schema & { hide?: boolean }) | undefined;
    if (!schema || schema.hide || !schema.response) return;
    const response = schema.response as Record<string, unknown>;
    for (const code of implicitStatuses(route)) {
      if (response[code] === undefined && response[String(code)] === undefined) response[code] = errors(code)[code];
    }
    describeSuccesses(response, schema.summary);
    const params = schema.params as TObject | undefined;
    if (params?.properties) schema.params = withPathExamples(params);
  });
}
