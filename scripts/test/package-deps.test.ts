import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { packageOf, sourceFiles, specifiers } from "./imports.js";

/**
 * Issue 16 item 8: every workspace declares what it imports, so a package works when installed on its own and not
 * only because the monorepo hoists everything into one node_modules. Code a package ships (src/, bin/) needs
 * `dependencies` (or optional ones); its tests may use `devDependencies` too.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));

const WORKSPACES = ["protocol", "runtime", "lock-sim", "bridge", "cloud", "scripts", "test"];
/** The whole-stack tests ship nothing: their src/ is the harness of their own suites, so devDependencies suffice. */
const TESTS_ONLY = new Set(["test"]);

interface Manifest {
  name: string;
  files?: string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** Each package this workspace's files import and does not declare where it must: "pkg (file)". */
function undeclared(workspace: string): string[] {
  const dir = join(root, workspace);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest;
  const shipped = new Set(
    Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies }),
  );
  const forTests = new Set([...shipped, ...Object.keys(manifest.devDependencies ?? {})]);
  // What the package's `files` ships, as the source folders it is built from (dist/cli/src from cli/src); every
  // other folder of a workspace holds tests.
  const shippedFolders = (manifest.files ?? []).map((f) => f.replace(/^dist\//, ""));
  const missing = new Set<string>();
  for (const path of sourceFiles(dir)) {
    const rel = relative(dir, path);
    const ships = !TESTS_ONLY.has(workspace) && shippedFolders.some((folder) => rel.startsWith(`${folder}/`));
    const declared = ships ? shipped : forTests;
    for (const specifier of specifiers(path, readFileSync(path, "utf8"))) {
      const name = packageOf(specifier);
      // A package may import itself by name through its own `exports`.
      if (name && name !== manifest.name && !declared.has(name)) missing.add(`${name} (${workspace}/${rel})`);
    }
  }
  return [...missing].sort();
}

describe("package manifests (issue 16 item 8)", () => {
  for (const workspace of WORKSPACES) {
    it(`${workspace} declares every package it imports`, () => {
      expect(undeclared(workspace)).toEqual([]);
    });
  }

  it("the scan sees every form of import and tells packages from builtins and paths", () => {
    const text = [
      'import a from "alpha";',
      'import type { B } from "@scope/beta/sub";',
      'export * from "gamma";',
      'import "delta/register";',
      'const e = await import("epsilon");',
      'type Z = import("zeta").Z;',
      'const h = require("eta");',
      'import { readFile } from "node:fs";',
      'import { join } from "path";',
      'import { x } from "./local.js";',
    ].join("\n");
    const names = specifiers("probe.ts", text).map(packageOf);
    expect(names).toEqual([
      "alpha",
      "@scope/beta",
      "gamma",
      "delta",
      "epsilon",
      "zeta",
      "eta",
      undefined,
      undefined,
      undefined,
    ]);
  });
});
