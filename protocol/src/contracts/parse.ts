import type { Static, TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { registerFormats } from "./formats.js";

/** A value that does not match its contract; `path` is the JSON pointer of the first field that fails ("" the whole). */
export class ContractError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path === "" ? "the value" : path}: ${reason}`);
    this.name = "ContractError";
  }
}

export const isContractError = (e: unknown): e is ContractError => e instanceof ContractError;

// Compiled once per schema: clients check every answer, and a compiled check is many times faster than Value.Check.
const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checker<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = compiled.get(schema);
  if (!check) {
    registerFormats();
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check as TypeCheck<T>;
}

/** Whether `value` matches `schema`, as the cloud would judge it. */
export function matches<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
  return checker(schema).Check(value);
}

/** `value` typed by its contract; throws ContractError naming the first failing field. Never converts nor defaults. */
export function parse<T extends TSchema>(schema: T, value: unknown): Static<T> {
  const check = checker(schema);
  if (check.Check(value)) return value;
  const first = check.Errors(value).First();
  throw new ContractError(first?.path ?? "", first?.message ?? "does not match");
}
