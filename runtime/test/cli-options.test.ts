import { Type } from "@sinclair/typebox";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { UsageError } from "../src/cli.js";
import { addCliOptions, readCliOptions } from "../src/cli-options.js";

const OPTIONS = {
  port: {
    flags: "--port <n>",
    description: "port",
    env: "X_PORT",
    schema: Type.Integer({ minimum: 0, maximum: 65_535 }),
  },
  level: {
    flags: "--level <level>",
    description: "level",
    schema: Type.Union([Type.Literal("info"), Type.Literal("debug")]),
    default: "info" as const,
  },
  every: { flags: "--every <s>", description: "seconds", schema: Type.Number({ minimum: 0 }) },
  quiet: { flags: "--quiet", description: "say less", env: "X_QUIET", schema: Type.Boolean() },
  token: {
    flags: "--token <t>",
    description: "token",
    env: "X_TOKEN",
    schema: Type.String({ minLength: 8, secret: true }),
  },
};

const parse = (argv: string[]) => {
  const command = addCliOptions(new Command("t").exitOverride(), OPTIONS);
  command.parse(argv, { from: "user" });
  return command.opts();
};

const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error("no UsageError");
};

describe("CLI options from one schema", () => {
  it("reads flags over the environment over defaults, as the schema's types", () => {
    expect(readCliOptions(OPTIONS, parse(["--port", "8080", "--quiet"]), { X_PORT: "9" })).toEqual({
      port: 8080,
      level: "info",
      quiet: true,
    });
    expect(readCliOptions(OPTIONS, parse([]), { X_PORT: "9", X_QUIET: "0", X_TOKEN: "" })).toEqual({
      port: 9,
      level: "info",
      quiet: false,
    });
  });

  it("names the flag or the variable at fault, every one at once, never a secret's value", () => {
    expect(refusal(() => readCliOptions(OPTIONS, parse(["--port", "70000"]), {}))).toBe(
      "--port: must be at most 65535 (got 70000)",
    );
    expect(refusal(() => readCliOptions(OPTIONS, parse(["--port", "http"]), {}))).toBe(
      '--port: must be an integer (got "http")',
    );
    expect(refusal(() => readCliOptions(OPTIONS, parse(["--every", "-0.5"]), {}))).toBe(
      "--every: must be at least 0 (got -0.5)",
    );
    expect(readCliOptions(OPTIONS, parse(["--every", "2.5"]), {}).every).toBe(2.5);
    const all = refusal(() =>
      readCliOptions(OPTIONS, parse(["--level", "loud"]), { X_PORT: "-1", X_QUIET: "yes", X_TOKEN: "hunter2" }),
    );
    expect(all.split("\n")).toEqual([
      "X_PORT: must be at least 0 (got -1)",
      '--level: must be one of info, debug (got "loud")',
      'X_QUIET: must be 1 or 0 (got "yes")',
      "X_TOKEN: must be at least 8 characters",
    ]);
  });

  it("reads a setting kept out of the process list from its variable only, never a flag", () => {
    const only = { url: { env: "X_URL", description: "url", schema: Type.String({ secret: true }) } };
    expect(readCliOptions(only, parse([]), { X_URL: "postgres://u:pw@h/db" })).toEqual({ url: "postgres://u:pw@h/db" });
    expect(addCliOptions(new Command("t"), only).helpInformation()).not.toContain("url");
  });

  it("shows each option's variable and default in the help", () => {
    const help = addCliOptions(new Command("t"), OPTIONS).helpInformation();
    expect(help).toContain("port; env X_PORT");
    expect(help).toContain("level (one of info, debug) (default info)");
    expect(help).toContain("say less; env X_QUIET=1");
  });
});
