import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { packageOf, specifiers } from "./imports.js";

/**
 * Issue 16 item 8: `@latchkey/protocol` is the pure library its README describes. Its entry names its exports one by
 * one, none of them marked `@internal`, and what it loads stops short of the `latchkey-token` CLI (commander, compiled
 * apart in protocol/cli/) and the benchmarks, which have their own entries.
 */
const src = fileURLToPath(new URL("../../protocol/src/", import.meta.url));
const entry = join(src, "index.ts");

/** Every protocol source file the entry loads, following relative imports (type-only ones load nothing). */
function loadedFrom(start: string): Set<string> {
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    const text = readFileSync(path, "utf8");
    for (const specifier of runtimeSpecifiers(path, text)) {
      if (!specifier.startsWith(".")) continue;
      const target = resolve(dirname(path), specifier).replace(/\.js$/, ".ts");
      expect(existsSync(target), `${specifier} from ${path}`).toBe(true);
      visit(target);
    }
  };
  visit(start);
  return seen;
}

/** The specifiers a file loads when it runs: a module named only by `import type` / `export type` is erased. */
function runtimeSpecifiers(path: string, text: string): string[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const typeOnly = new Set<string>();
  const loads = new Set<string>();
  for (const node of file.statements) {
    if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node))) continue;
    if (!node.moduleSpecifier || !ts.isStringLiteral(node.moduleSpecifier)) continue;
    const erased = ts.isImportDeclaration(node) ? node.importClause?.isTypeOnly === true : node.isTypeOnly;
    (erased ? typeOnly : loads).add(node.moduleSpecifier.text);
  }
  return specifiers(path, text).filter((s) => loads.has(s) || !typeOnly.has(s));
}

/** Each name the entry exports, with the module that declares it. */
function entryExports(): { name: string; from: string }[] {
  const file = ts.createSourceFile(entry, readFileSync(entry, "utf8"), ts.ScriptTarget.Latest, true);
  const out: { name: string; from: string }[] = [];
  for (const node of file.statements) {
    if (!ts.isExportDeclaration(node)) continue;
    // `export *` would hand out whatever a module exports for its neighbours.
    expect(node.exportClause, "an explicit export list").toBeDefined();
    const from = resolve(src, (node.moduleSpecifier as ts.StringLiteral).text).replace(/\.js$/, ".ts");
    for (const element of (node.exportClause as ts.NamedExports).elements)
      out.push({ name: (element.propertyName ?? element.name).text, from });
  }
  return out;
}

/** Whether the top-level declaration of `name` in `path`, or any member of it, carries `@internal`. */
function markedInternal(path: string, name: string): boolean {
  const file = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, true);
  const declares = (node: ts.Statement): boolean => {
    if (ts.isVariableStatement(node))
      return node.declarationList.declarations.some((d) => ts.isIdentifier(d.name) && d.name.text === name);
    const named = node as ts.Statement & { name?: ts.Node };
    return named.name !== undefined && ts.isIdentifier(named.name) && named.name.text === name;
  };
  const node = file.statements.find(declares);
  expect(node, `${name} declared in ${relative(src, path)}`).toBeDefined();
  let internal = false;
  const visit = (n: ts.Node): void => {
    if (ts.getJSDocTags(n).some((tag) => tag.tagName.text === "internal")) internal = true;
    ts.forEachChild(n, visit);
  };
  visit(node!);
  return internal;
}

describe("the @latchkey/protocol entry (issue 16 item 8)", () => {
  it("loads neither the CLI nor the benchmarks, and no package beyond its CBOR and Ed25519 libraries", () => {
    const loaded = [...loadedFrom(entry)].map((path) => relative(src, path));
    expect(loaded.filter((path) => path.startsWith("..") || path.startsWith("bench/"))).toEqual([]);
    const packages = new Set<string>();
    for (const path of loaded) {
      const full = join(src, path);
      for (const specifier of runtimeSpecifiers(full, readFileSync(full, "utf8"))) {
        const name = packageOf(specifier);
        if (name) packages.add(name);
      }
    }
    expect([...packages].sort()).toEqual(["@noble/ed25519", "cbor-x"]);
  });

  it("names each export, and none is marked @internal", () => {
    const exports = entryExports();
    expect(exports.length).toBeGreaterThan(0);
    expect(exports.filter(({ name, from }) => markedInternal(from, name)).map(({ name }) => name)).toEqual([]);
  });

  it("keeps the neighbours' helpers out of the public API", async () => {
    const api = await import("@latchkey/protocol");
    for (const helper of ["sha256", "x25519SharedSecret", "encodeStatePayload", "checkPinTag", "readState"])
      expect(Object.keys(api), helper).not.toContain(helper);
  });
});
