import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findPackage, UsageError } from "../src/cli.js";

describe("UsageError", () => {
  it("is an Error named UsageError carrying the message the CLIs print", () => {
    const e = new UsageError("--port must be a port number");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("UsageError");
    expect(e.message).toBe("--port must be a port number");
  });
});

describe("findPackage", () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };

  it("finds the named package upwards from a module and answers its directory and version", () => {
    expect(findPackage("@latchkey/runtime", import.meta.url)).toEqual({ root, version: manifest.version });
  });

  it("answers 0.0.0 from the module's own directory when no package of that name holds it", () => {
    expect(findPackage("@latchkey/no-such-package", import.meta.url)).toEqual({
      root: dirname(fileURLToPath(import.meta.url)),
      version: "0.0.0",
    });
  });
});
