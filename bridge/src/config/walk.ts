import { Kind, type TSchema } from "@sinclair/typebox";

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
