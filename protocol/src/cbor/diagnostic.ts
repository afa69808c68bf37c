import { toHex } from "../bytes.js";
import { CborTag, type CborValue } from "./tag.js";

/** CBOR diagnostic notation (RFC 8949 section 8) of a decoded value, for humans reading a token or a message. */
export function toDiagnostic(value: CborValue, indent = "  ", depth = 0): string {
  const pad = indent.repeat(depth + 1);
  const end = indent.repeat(depth);
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
    return String(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Uint8Array) return `h'${toHex(value)}'`;
  if (value instanceof CborTag) return `${value.tag}(${toDiagnostic(value.value, indent, depth)})`;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => pad + toDiagnostic(v, indent, depth + 1)).join(",\n")}\n${end}]`;
  }
  if (value.size === 0) return "{}";
  const entries = [...value].map(
    ([k, v]) => `${pad}${toDiagnostic(k, indent, depth + 1)}: ${toDiagnostic(v, indent, depth + 1)}`,
  );
  return `{\n${entries.join(",\n")}\n${end}}`;
}
