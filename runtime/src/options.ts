import { Kind, type TSchema } from "@sinclair/typebox";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";

/**
 * Options (a settings file, flags, environment variables) checked against a TypeBox schema, each problem told in
 * words an operator reads, with the key at fault: `mqtt.port: must be at most 65535 (got 70000)`. Every problem is
 * reported at once, not the first only. A schema marked `secret: true` never has its value echoed back.
 */

/** One problem, with the key at fault (`mqtt.port`, `vendorAccounts[0].vendor`, or an environment variable name). */
export interface OptionIssue {
  key: string;
  message: string;
}

export function isSecretSchema(schema: TSchema | undefined): boolean {
  return Boolean(schema && (schema as { secret?: boolean }).secret);
}

const show = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

function closest(word: string, candidates: string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = row[j]!;
        row[j] = Math.min(
          row[j]! + 1,
          row[j - 1]! + 1,
          prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
        );
        prev = tmp;
      }
    }
    return row[b.length]!;
  };
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d <= Math.max(2, Math.floor(c.length / 3)) && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

function describe(root: TSchema, error: ValueError): string {
  const s = error.schema as TSchema & Record<string, unknown>;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return "is required";
    case ValueErrorType.ObjectAdditionalProperties: {
      const parent = schemaAt(root, error.path.split("/").slice(0, -1).join("/"));
      const name = error.path.split("/").pop() ?? "";
      const hint = parent && isObjectSchema(parent) ? closest(name, Object.keys(parent.properties)) : undefined;
      return `is not a known option${hint ? ` (did you mean "${hint}"?)` : ""}`;
    }
    case ValueErrorType.Union: {
      const members = (s.anyOf as TSchema[]) ?? [];
      if (members.every((m) => m[Kind] === "Literal"))
        return `must be one of ${members.map((m) => String((m as TSchema & { const: unknown }).const)).join(", ")}`;
      if (members.some((m) => m[Kind] === "Null")) return "must be an integer or null";
      return "has an invalid value";
    }
    case ValueErrorType.Integer:
      return "must be an integer";
    case ValueErrorType.Number:
      return "must be a number";
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${s.minimum}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${s.maximum}`;
    case ValueErrorType.String:
      return "must be text";
    case ValueErrorType.StringMinLength:
      return `must be at least ${s.minLength} characters`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${s.maxLength} characters`;
    case ValueErrorType.StringPattern:
      return `has an invalid format (${String(s.description ?? s.pattern)})`;
    case ValueErrorType.Boolean:
      return "must be true or false";
    case ValueErrorType.Array:
      return "must be a list";
    case ValueErrorType.Object:
      return "must be a mapping of options";
    default:
      return error.message;
  }
}

/** Every way `value` breaks `schema`, one issue per key. */
export function schemaIssues(schema: TSchema, value: unknown): OptionIssue[] {
  const seen = new Set<string>();
  const issues: OptionIssue[] = [];
  for (const error of Value.Errors(schema, value)) {
    if (seen.has(error.path)) continue;
    seen.add(error.path);
    const secret = isSecretSchema(schemaAt(schema, error.path));
    const shown =
      error.value === undefined || secret || error.type === ValueErrorType.ObjectAdditionalProperties
        ? ""
        : ` (got ${show(error.value)})`;
    issues.push({ key: pointerToKey(error.path), message: describe(schema, error) + shown });
  }
  return issues;
}

/** A leaf option of the settings schema (scalars, and arrays treated as one value). */
export interface SchemaLeaf {
  path: string[];
  schema: TSchema;
}

export const isObjectSchema = (schema: TSchema): schema is TSchema & { properties: Record<string, TSchema> } =>
  schema[Kind] === "Object";

/** Every leaf of the schema in declaration order. */
export function schemaLeaves(schema: TSchema, path: string[] = []): SchemaLeaf[] {
  if (!isObjectSchema(schema)) return [{ path, schema }];
  return Object.entries(schema.properties).flatMap(([key, child]) => schemaLeaves(child, [...path, key]));
}

/** The schema at a JSON pointer such as `/mqtt/port` or `/vendorAccounts/0/password`, if any. */
export function schemaAt(schema: TSchema, pointer: string): TSchema | undefined {
  let current: TSchema | undefined = schema;
  for (const part of pointer.split("/").filter(Boolean)) {
    if (!current) return undefined;
    if (isObjectSchema(current)) current = current.properties[part];
    else if (current[Kind] === "Array") current = (current as TSchema & { items: TSchema }).items;
    else if (current[Kind] === "Union") {
      current = (current as TSchema & { anyOf: TSchema[] }).anyOf.find(
        (s) => s[Kind] === "Object" || s[Kind] === "Array",
      );
      if (current) return schemaAt(current, `/${part}`);
    } else return undefined;
  }
  return current;
}

/** `/vendorAccounts/0/vendor` → `vendorAccounts[0].vendor`. */
export function pointerToKey(pointer: string): string {
  let key = "";
  for (const part of pointer.split("/").filter(Boolean)) {
    key += /^\d+$/.test(part) ? `[${part}]` : key === "" ? part : `.${part}`;
  }
  return key === "" ? "(root)" : key;
}
