import { registerFormats } from "@latchkey/protocol/contracts";
import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler, type ValueError, ValueErrorType } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import type { FastifySchemaCompiler } from "fastify";
import { ApiError, RequestValidationError } from "./errors.js";

registerFormats();

const INTEGER = /^-?\d{1,15}$/;
const NUMBER = /^-?\d{1,15}(\.\d{1,15})?$/;

/**
 * Query strings and path parameters are text: convert exactly the values whose schema is a number, an integer or a
 * boolean, and only when the text is one ("1.5" is not an integer, "1e3" not a number). Everything else stays text.
 */
function convertText(schema: TSchema, data: unknown): unknown {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return data;
  const properties = (schema.properties ?? {}) as Record<string, TSchema>;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(data as Record<string, unknown>)) {
    const type = properties[name]?.type;
    if (typeof value !== "string") out[name] = value;
    else if (type === "integer" && INTEGER.test(value)) out[name] = Number(value);
    else if (type === "number" && NUMBER.test(value)) out[name] = Number(value);
    else if (type === "boolean" && (value === "true" || value === "false")) out[name] = value === "true";
    else out[name] = value;
  }
  return out;
}

/** The most specific error: inside a union, the variant error that got deepest into the value. */
function mostSpecific(error: ValueError): ValueError {
  let best = error;
  for (const variant of error.errors ?? []) {
    const first = variant.First();
    if (!first) continue;
    const candidate = mostSpecific(first);
    if (candidate.path.length > best.path.length) best = candidate;
  }
  return best;
}

/** Shown for every date the API takes (docs/design.md section 4: times are RFC 3339 with an offset). */
const DATE_TIME_EXPECTED = "an RFC 3339 date-time with offset, e.g. 2026-12-07T10:00:00Z";

/**
 * What a value of `schema` looks like, in words, where TypeBox's own message would not say (a union answers
 * "Expected union value"; a format, only its name). Undefined where the schema's message is clear enough.
 */
function expected(schema: TSchema): string | undefined {
  if (schema.format === "date-time") return DATE_TIME_EXPECTED;
  // A union of literals (an enum such as a key state) lists the values it takes.
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.type === "null") return "null";
  if (Array.isArray(schema.anyOf)) {
    const variants = (schema.anyOf as TSchema[]).map(expected);
    if (variants.every((v) => v !== undefined)) return variants.join(", or ");
  }
  return undefined;
}

/** The error's text for an API answer: what was expected, and for a batch over its limit, the limit (issue 15 item 11). */
function describe(error: ValueError): string {
  if (error.type === ValueErrorType.ArrayMaxItems && Array.isArray(error.value))
    return `at most ${error.schema.maxItems} items in one request, got ${error.value.length}`;
  const words = expected(error.schema);
  return words === undefined ? error.message : `must be ${words}`;
}

/**
 * Where a string (or an object key) holds U+0000, if anywhere. No field of this API has a use for it, SQLite would
 * store it but PostgreSQL text cannot hold it, so it is refused up front and both stores see the same requests.
 */
function nulAt(value: unknown, path = ""): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const at = `${path}.${key}`;
    if (key.includes("\u0000")) return at;
    const found = nulAt(inner, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Validates with TypeBox instead of fastify's default Ajv, which coerces body types ("5" → 5) and silently drops
 * unknown fields: a body must be exactly what its schema says (wrong types and unknown fields → 400).
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const checker = TypeCompiler.Compile(schema);
  const part = httpPart === "querystring" ? "query" : (httpPart ?? "request");
  return (data: unknown) => {
    let value = data;
    // No body at all where every field is optional reads as an empty object.
    if (httpPart === "body" && data == null && !(Array.isArray(schema.required) && schema.required.length > 0)) {
      value = {};
    }
    if (httpPart !== "body") value = Value.Default(schema, convertText(schema, structuredClone(data ?? {})));
    if (checker.Check(value)) {
      const nul = nulAt(value);
      if (nul === undefined) return { value };
      // Path parameters are ids: one with a NUL names nothing that exists.
      if (httpPart === "params") return { error: new ApiError(404, "not_found", `${part}${nul} was not found`) };
      return { error: new RequestValidationError(`${part}${nul}: contains a NUL character (U+0000)`) };
    }
    const first = checker.Errors(value).First();
    if (!first) return { error: new RequestValidationError(`${part}: is not valid`) };
    const error = mostSpecific(first);
    const where = error.path ? `${part}${error.path.replaceAll("/", ".")}` : part;
    return { error: new RequestValidationError(`${where}: ${describe(error)}`) };
  };
};
