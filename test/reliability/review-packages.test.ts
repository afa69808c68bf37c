import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ReliabilityFile } from "../src/reliability/per-file.js";

/**
 * Issue 16 item 8 through the real module loader: each package's built entry is imported by a fresh node process as
 * a user of the package would (`import "@latchkey/cloud"`), and a resolve hook records every package a file of ours
 * asks for. Each must be one the asking workspace declares for shipped code (scripts/test/package-deps.test.ts
 * checks the sources statically; this checks what really loads from dist/). Needs `tsc -b` first, as `npm test` does.
 */
const file = new ReliabilityFile("review-packages");
const { tally } = file;
const run = promisify(execFile);

const root = fileURLToPath(new URL("../..", import.meta.url));
const WORKSPACES = ["protocol", "lock-sim", "bridge", "cloud", "scripts"];
const builtins = new Set(builtinModules);

/** Records each bare specifier resolved, with the file that asked, one JSON line each. */
const HOOKS = `
import { appendFileSync } from "node:fs";
let out;
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const bare = !/^(?:\\.|\\/|node:|file:|data:)/.test(specifier);
  if (bare) appendFileSync(out, JSON.stringify({ specifier, parent: context.parentURL ?? "" }) + "\\n");
  return next(specifier, context);
}
`;

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function manifest(workspace: string): Manifest {
  return JSON.parse(readFileSync(join(root, workspace, "package.json"), "utf8")) as Manifest;
}

function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Imports `entry` in a fresh node process; answers the bare imports each of our files made, as [workspace, package]. */
async function importsOf(entry: string): Promise<{ workspace: string; name: string; from: string }[]> {
  const dir = file.resources.tempDir("latchkey-imports-");
  const hooks = join(dir, "hooks.mjs");
  const out = join(dir, "imports.jsonl");
  writeFileSync(hooks, HOOKS);
  writeFileSync(out, "");
  const script = [
    'import { register } from "node:module";',
    `register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { out: ${JSON.stringify(out)} } });`,
    `await import(${JSON.stringify(entry)});`,
  ].join("\n");
  await run(process.execPath, ["--input-type=module", "-e", script], { cwd: root, timeout: 60_000 });
  const found: { workspace: string; name: string; from: string }[] = [];
  for (const line of readFileSync(out, "utf8").split("\n").filter(Boolean)) {
    const { specifier, parent } = JSON.parse(line) as { specifier: string; parent: string };
    if (!parent.startsWith("file:")) continue;
    const from = relative(root, fileURLToPath(parent));
    const workspace = from.split("/")[0]!;
    // Our own files only: what installed packages import is their manifests' business.
    if (!WORKSPACES.includes(workspace) || from.includes("node_modules")) continue;
    const name = packageOf(specifier);
    if (!builtins.has(name)) found.push({ workspace, name, from });
  }
  return found;
}

describe("issue 16.8: packages load only what they declare", () => {
  it("each built entry, imported as a user would, asks only for packages its workspace declares", async () => {
    const undeclared: string[] = [];
    let resolved = 0;
    for (const entry of [
      "@latchkey/protocol",
      "@latchkey/lock-sim",
      "@latchkey/bridge",
      "@latchkey/cloud",
      "@latchkey/scripts",
    ]) {
      for (const { workspace, name, from } of await importsOf(entry)) {
        resolved++;
        const m = manifest(workspace);
        const declared = { ...m.dependencies, ...m.optionalDependencies, ...m.peerDependencies };
        if (name !== m.name && !(name in declared)) undeclared.push(`${name} (${from})`);
      }
    }
    tally.input(resolved);
    tally.note("bare imports resolved from our built entries", resolved);
    expect(resolved).toBeGreaterThan(0);
    expect([...new Set(undeclared)].sort()).toEqual([]);
    tally.case("issue 16.8: a package loading one its manifest does not declare (real node, built entries)");
  });

  it("importing @latchkey/protocol loads neither its CLI nor commander", async () => {
    const loaded = await importsOf("@latchkey/protocol");
    expect(loaded.map(({ name }) => name).filter((name) => name === "commander")).toEqual([]);
    expect(new Set(loaded.map(({ name }) => name))).toEqual(new Set(["@noble/ed25519", "cbor-x"]));
    tally.case("issue 16.8: the protocol library loading its CLI (commander)");
  });
});
