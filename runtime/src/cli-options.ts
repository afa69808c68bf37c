import { Kind, type Static, type TSchema } from "@sinclair/typebox";
import { type Command, Option } from "commander";
import { UsageError } from "./cli.js";
import { isSecretSchema, schemaIssues } from "./options.js";

/**
 * A command's options declared once: the flag commander parses, the environment variable that stands in for it,
 * and the TypeBox schema the value must meet (the bridge's settings are checked the same way, options.ts). Commander
 * only reads the text; every value, from a flag or the environment, is then checked against its schema, so each
 * mistake is told the same way, naming the flag or variable it came from: `--port: must be at most 65535 (got 70000)`.
 */
export interface CliOption<S extends TSchema = TSchema> {
  /** As commander takes them: `--port <n>`, or `--json` for a switch (a Boolean schema); none for a setting read
   * from the environment only (a URL that may carry a password, a secret: flags show in `ps`). */
  flags?: string;
  description: string;
  schema: S;
  /** The environment variable read when the flag is not given (an empty one counts as not set). */
  env?: string;
  /** The value when neither is given. */
  default?: Static<S>;
}

/** Keyed by the name commander gives the flag's value (`--metrics-port` is `metricsPort`). */
export type CliOptions = Record<string, CliOption>;

/** What a table of options reads to: each option's value, or undefined when it was not given and has no default. */
export type CliValues<O extends CliOptions> = {
  [K in keyof O]: O[K] extends { default: unknown } ? Static<O[K]["schema"]> : Static<O[K]["schema"]> | undefined;
};

/** Declares each option on `command`, its environment variable and default in the help. */
export function addCliOptions(command: Command, options: CliOptions): Command {
  for (const option of Object.values(options)) {
    if (option.flags === undefined) continue;
    const env = option.env ? `; env ${option.env}${option.schema[Kind] === "Boolean" ? "=1" : ""}` : "";
    const shown =
      option.default === undefined || option.schema[Kind] === "Boolean" ? "" : ` (default ${option.default})`;
    const members = (option.schema as TSchema & { anyOf?: TSchema[] }).anyOf ?? [];
    const oneOf = members.length > 0 && members.every((m) => m[Kind] === "Literal");
    const choices = oneOf ? ` (one of ${members.map((m) => String(m.const)).join(", ")})` : "";
    command.addOption(new Option(option.flags, `${option.description}${choices}${shown}${env}`));
  }
  return command;
}

const NUMERIC = /^-?\d+(\.\d+)?$/;

/** A flag's or variable's text as its schema's type; text that is not one stays text, for the schema to refuse. */
function fromText(schema: TSchema, text: unknown, fromEnv: boolean): unknown {
  if (typeof text !== "string") return text;
  const kind = schema[Kind];
  if ((kind === "Integer" || kind === "Number") && NUMERIC.test(text)) return Number(text);
  if (kind === "Boolean" && fromEnv) return text === "1" ? true : text === "0" ? false : text;
  return text;
}

/**
 * The values of `options`: a flag wins over its environment variable, which wins over the default. Throws one
 * UsageError listing every value that breaks its schema, each under the flag or variable that gave it.
 */
export function readCliOptions<O extends CliOptions>(
  options: O,
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): CliValues<O> {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, option] of Object.entries(options)) {
    const envText = option.env ? env[option.env] || undefined : undefined;
    const fromFlag = flags[key] !== undefined;
    const source = fromFlag ? option.flags!.split(/[ ,]/)[0]! : option.env!;
    const value = fromFlag
      ? fromText(option.schema, flags[key], false)
      : envText !== undefined
        ? fromText(option.schema, envText, true)
        : option.default;
    if (value === undefined) continue;
    const issues = schemaIssues(option.schema, value);
    if (option.schema[Kind] === "Boolean" && !fromFlag && issues.length > 0) {
      problems.push(
        `${source}: must be 1 or 0${isSecretSchema(option.schema) ? "" : ` (got ${JSON.stringify(envText)})`}`,
      );
      continue;
    }
    for (const issue of issues) problems.push(`${source}: ${issue.message}`);
    values[key] = value;
  }
  if (problems.length > 0) throw new UsageError(problems.join("\n"));
  return values as CliValues<O>;
}
