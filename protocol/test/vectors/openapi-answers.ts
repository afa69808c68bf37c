import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

/**
 * Checks answers against the OpenAPI document the cloud serves at /docs/json (issue 14: the document is a contract).
 * Checkout-only (never shipped): the cloud suite (cloud/test/helpers.ts) and the whole-stack suites (test/src's
 * validating fetch, `openapi-fetch.ts` here) share this one checker.
 * An answer to an operation the document lists must have a status the operation declares, and a body that matches
 * the schema declared for that status (ajv, with ajv-formats for date-time and uri). Answers to anything the document
 * does not list (no route, /docs, /health) are not checked.
 */

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const METHODS = ["get", "put", "post", "patch", "delete"] as const;

interface MediaType {
  schema?: unknown;
}
interface Response {
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId?: string;
  responses: Record<string, Response>;
}
interface Document {
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components?: unknown;
}

interface Route {
  segments: string[];
  template: string;
  operations: Partial<Record<string, Operation>>;
}

/** Where in the document `$ref`s point: the whole document is added to ajv under this id. */
const DOC_ID = "openapi.json";

/** A copy of `schema` whose local `$ref`s point into the document added to ajv. */
function rebase(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebase);
  if (schema === null || typeof schema !== "object") return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [
      k,
      k === "$ref" && typeof v === "string" && v.startsWith("#") ? `${DOC_ID}${v}` : rebase(v),
    ]),
  );
}

export class AnswerChecker {
  private readonly routes: Route[];
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(doc: Document) {
    // OpenAPI 3.0 schemas carry `nullable` (ajv knows it) and annotations ajv's strict mode would refuse.
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: DOC_ID, components: doc.components ?? {} });
    this.routes = Object.entries(doc.paths).map(([template, item]) => ({
      template,
      segments: template.split("/"),
      operations: item as Partial<Record<string, Operation>>,
    }));
  }

  /** The document's path for a request path, static segments winning over parameters as in fastify's router. */
  private route(path: string): Route | undefined {
    const segments = path.replace(/\/+$/, "").split("/");
    let best: Route | undefined;
    let bestScore = "";
    for (const r of this.routes) {
      if (r.segments.length !== segments.length) continue;
      let score = "";
      let ok = true;
      for (let i = 0; i < segments.length && ok; i++) {
        const s = r.segments[i]!;
        if (s.startsWith("{")) {
          ok = segments[i]!.length > 0;
          score += "0";
        } else {
          ok = s === segments[i];
          score += "1";
        }
      }
      if (ok && score > bestScore) {
        best = r;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * Why an answer does not match the document, or undefined when it does (or when the document does not describe the
   * request). `body` is the answer's text.
   */
  problem(
    method: string,
    url: string,
    status: number,
    contentType: string | undefined,
    body: string,
  ): string | undefined {
    return this.check(method, url, status, contentType, body).problem;
  }

  /**
   * The operation an answer was checked against (none when the document does not describe the request: no route,
   * /docs, /health, /metrics) and why the answer does not match it, if it does not.
   */
  check(
    method: string,
    url: string,
    status: number,
    contentType: string | undefined,
    body: string,
  ): { operation?: string; problem?: string } {
    const path = url.split("?")[0]!;
    const route = this.route(path);
    const op = route?.operations[method.toLowerCase()];
    if (!route || !op) return {};
    const name = `${method} ${route.template} (${op.operationId ?? "no operationId"})`;
    const problem = this.against(name, route.template, op, method, status, contentType, body);
    return problem === undefined ? { operation: name } : { operation: name, problem };
  }

  private against(
    name: string,
    template: string,
    op: Operation,
    method: string,
    status: number,
    contentType: string | undefined,
    body: string,
  ): string | undefined {
    const declared = op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`] ?? op.responses.default;
    if (!declared) {
      return `${name} answered ${status}, which it does not declare (declared: ${Object.keys(op.responses).join(", ")}): ${body.slice(0, 300)}`;
    }
    const media = declared.content?.["application/json"];
    if (!media) {
      if (body.length > 0 && declared.content === undefined)
        return `${name} answered ${status} with a body, declared without one: ${body.slice(0, 300)}`;
      return undefined;
    }
    if (!contentType?.startsWith("application/json"))
      return `${name} answered ${status} as ${contentType ?? "no content type"}, declared application/json`;
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      return `${name} answered ${status} with a body that is not JSON: ${body.slice(0, 300)}`;
    }
    if (media.schema === undefined) return undefined;
    const key = `${method} ${template} ${status}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(rebase(media.schema) as object);
      this.compiled.set(key, validate);
    }
    if (validate(value)) return undefined;
    const why = (validate.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath || "(body)"} ${e.message}`)
      .join("; ");
    return `${name} answered ${status} with a body that does not match its schema: ${why}: ${body.slice(0, 300)}`;
  }
}
