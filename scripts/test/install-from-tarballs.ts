import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";

/**
 * Issue 15 item 12: the workspaces installed the way a gateway operator installs them, from `npm pack` tarballs into a
 * prefix of their own, with no checkout beside them. Used by pack-install.test.ts.
 */

/** The workspaces that ship to users, each packed to a tarball (scripts for `latchkey-mosquitto-acl`). */
export const SHIPPED_WORKSPACES = ["protocol", "runtime", "lock-sim", "bridge", "cloud", "scripts"] as const;

/** Where the bridge README installs the packages on a gateway, and where the systemd unit looks for the bridge. */
export const INSTALL_PREFIX = "/opt/latchkey";

export interface Manifest {
  name: string;
  version: string;
  license?: string;
  main?: string;
  types?: string;
  exports?: Record<string, { types?: string; default?: string }>;
  bin?: Record<string, string>;
  files?: string[];
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
  overrides?: Record<string, unknown>;
}

export interface Tarball {
  workspace: string;
  manifest: Manifest;
  /** Absolute path of the .tgz. */
  path: string;
  /** Every path inside the tarball, relative to the package root. */
  files: string[];
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without throwing: its exit code (-1 when it could not start) and its output. */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr: error && code === -1 ? `${stderr}${error.message}\n` : stderr });
      },
    );
  });
}

export function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest;
}

/**
 * The environment for npm and the installed bins: this process's, without the `npm_*` variables an enclosing
 * `npm test` sets for its scripts (its prefix, workspace and lifecycle), which must not steer an install elsewhere.
 * `node`, when given, is the Node to run them with: its directory goes first on PATH (npm's own shebang finds it
 * there), and its headers, when it ships them, are what native addons are built against.
 */
export function cleanEnv(node?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!/^npm_/i.test(key) || /^npm_config_(cache|userconfig|globalconfig|registry)$/i.test(key)) env[key] = value;
  if (node !== undefined) {
    env.PATH = `${dirname(node)}${delimiter}${env.PATH ?? ""}`;
    const home = dirname(dirname(node));
    if (existsSync(join(home, "include/node/node.h"))) env.npm_config_nodedir = home;
  }
  return env;
}

/** `npm pack` of each shipped workspace into `dest`, from the built tree (`npx tsc -b` first; no prepack here). */
export async function packWorkspaces(root: string, dest: string): Promise<Tarball[]> {
  mkdirSync(dest, { recursive: true });
  const args = ["pack", "--json", "--ignore-scripts", "--pack-destination", dest];
  for (const w of SHIPPED_WORKSPACES) args.push("--workspace", w);
  const packed = await run("npm", args, { cwd: root, env: cleanEnv() });
  if (packed.code !== 0) throw new Error(`npm pack failed (exit ${packed.code}):\n${packed.stderr}`);
  const reports = JSON.parse(packed.stdout) as { name: string; filename: string; files: { path: string }[] }[];
  return SHIPPED_WORKSPACES.map((workspace) => {
    const manifest = readManifest(join(root, workspace));
    const report = reports.find((r) => r.name === manifest.name);
    if (!report) throw new Error(`npm pack reported no tarball for ${manifest.name}`);
    return { workspace, manifest, path: join(dest, report.filename), files: report.files.map((f) => f.path) };
  });
}

/**
 * The install prefix's package.json: the tarballs as its dependencies, and the repository's `overrides` (pins that
 * only a root package.json can set: cbor-extract at the release whose prebuilt addons exist, cookie and
 * content-disposition at their Node 20 lines) and `allowScripts` (the native addons npm may build: better-sqlite3,
 * cbor-extract, noble and its HCI socket, usb). The bridge README has the operator write the same two fields.
 */
export function prefixManifest(root: string, tarballs: Tarball[]): Record<string, unknown> {
  const repo = readManifest(root);
  return {
    name: "latchkey-install",
    private: true,
    dependencies: Object.fromEntries(tarballs.map((t) => [t.manifest.name, `file:${t.path}`])),
    overrides: repo.overrides ?? {},
    allowScripts: repo.allowScripts ?? {},
  };
}

interface LockEntry {
  version?: string;
  link?: boolean;
  dev?: boolean;
  [key: string]: unknown;
}

/**
 * A package-lock.json for the prefix that pins every third-party package to the version and integrity of the
 * repository's lockfile, laid out as there. `npm ci` filled npm's cache with exactly these, so the install needs no
 * registry (`--offline`) and runs the versions the repository's tests ran. Dev-only packages and the workspace
 * links are left out; the tarballs take the workspaces' place under node_modules/@latchkey/.
 */
export function lockFromRepository(root: string, tarballs: Tarball[]): Record<string, unknown> {
  const repo = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };
  const packages: Record<string, unknown> = {};
  for (const t of tarballs) {
    const { name, version, license, dependencies, optionalDependencies, bin, engines } = t.manifest;
    packages[`node_modules/${name}`] = {
      version,
      resolved: `file:${t.path}`,
      license,
      dependencies,
      optionalDependencies,
      bin,
      engines,
    };
  }
  for (const [key, entry] of Object.entries(repo.packages)) {
    if (!key.startsWith("node_modules/") || key.startsWith("node_modules/@latchkey/")) continue;
    if (entry.link || entry.dev) continue;
    packages[key] = entry;
  }
  const manifest = prefixManifest(root, tarballs);
  return {
    name: manifest.name,
    lockfileVersion: 3,
    requires: true,
    packages: { "": { name: manifest.name, dependencies: manifest.dependencies }, ...packages },
  };
}

export interface InstallOptions {
  /**
   * "offline": from npm's cache with the repository's versions (lockFromRepository), install scripts off, native
   * addons taken from the repository's node_modules (same version, same Node, same machine); seconds.
   * "full": as an operator does, `npm install` of the tarballs with install scripts (better-sqlite3 compiles when no
   * prebuilt binary can be had), registry allowed for what the cache lacks; a minute or more.
   */
  mode: "offline" | "full";
  /** The Node to install and run with (default: this one). */
  node?: string;
}

/** Installs the tarballs into `prefix` (made if missing); throws with npm's output when npm fails. */
export async function installTarballs(
  root: string,
  prefix: string,
  tarballs: Tarball[],
  options: InstallOptions,
): Promise<Run> {
  mkdirSync(prefix, { recursive: true });
  writeFileSync(join(prefix, "package.json"), `${JSON.stringify(prefixManifest(root, tarballs), null, 2)}\n`);
  const common = ["--no-audit", "--no-fund", "--loglevel=warn"];
  let result: Run;
  if (options.mode === "offline") {
    writeFileSync(
      join(prefix, "package-lock.json"),
      `${JSON.stringify(lockFromRepository(root, tarballs), null, 2)}\n`,
    );
    result = await run("npm", ["ci", "--offline", "--ignore-scripts", ...common], {
      cwd: prefix,
      env: cleanEnv(options.node),
    });
  } else {
    result = await run("npm", ["install", "--prefer-offline", ...common], {
      cwd: prefix,
      env: cleanEnv(options.node),
      timeoutMs: 900_000,
    });
  }
  if (result.code !== 0)
    throw new Error(`npm ${options.mode} install failed (exit ${result.code}):\n${result.stderr}${result.stdout}`);
  if (options.mode === "offline") provideBetterSqlite3(root, prefix);
  return result;
}

/**
 * With install scripts off, better-sqlite3 has no compiled addon. The repository's copy is the same version (the lock
 * above pins it), built by `npm ci` on this machine for this Node, so it is the binary npm would build here.
 */
function provideBetterSqlite3(root: string, prefix: string): void {
  const fromRepo = dirname(createRequire(join(root, "package.json")).resolve("better-sqlite3/package.json"));
  const installed = join(prefix, "node_modules/better-sqlite3");
  const versions = [readManifest(fromRepo).version, readManifest(installed).version];
  if (versions[0] !== versions[1])
    throw new Error(`better-sqlite3 ${versions[1]} installed, the repository has ${versions[0]}: the lock drifted`);
  const addon = join(fromRepo, "build/Release/better_sqlite3.node");
  if (!existsSync(addon)) throw new Error(`${addon} is missing: run \`npm ci\` (it builds better-sqlite3)`);
  mkdirSync(join(installed, "build/Release"), { recursive: true });
  copyFileSync(addon, join(installed, "build/Release/better_sqlite3.node"));
}
