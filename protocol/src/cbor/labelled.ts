/**
 * A CBOR map with integer labels built from an object and its label table (`{ field: label }`): one entry a label,
 * in the table's order (each table lists its labels in the order the encoding has always written them), each value
 * read from the field of the same name. Fields the table does not name are left out; a field whose CBOR form is not
 * its own value (a nested map) is given already encoded in `values`.
 */
export function labelledMap<L extends Record<string, number>>(
  labels: L,
  values: { readonly [K in keyof L]?: unknown },
): Map<number, unknown> {
  return new Map(Object.entries(labels).map(([name, label]) => [label, values[name]]));
}
