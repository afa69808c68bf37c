import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * Issue 15 item 14: the documents a newcomer reads match what the project is and does. The walk-throughs are read as
 * text here: every tool they use is named, every variable is set before it is used, secrets land in 0600 files.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const read = (path: string) => readFileSync(join(root, path), "utf8");

/** SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the plain text (also Debian's common-licenses copy). */
const APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30";

const MARKDOWN = [
  "README.md",
  ...["protocol", "runtime", "lock-sim", "bridge", "cloud", "scripts"].map((w) => `${w}/README.md`),
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The shell blocks of a Markdown file, and its prose (everything outside fenced blocks). */
function split(markdown: string): { shell: string[]; prose: string } {
  const shell: string[] = [];
  const prose = markdown.replace(/```(\w*)\n([\s\S]*?)```/g, (_all, lang: string, body: string) => {
    if (lang === "sh" || lang === "bash" || lang === "shell") shell.push(body);
    return "";
  });
  return { shell, prose };
}

/** A section of a Markdown file, from its heading to the next heading of the same level. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section ${heading}`);
  const level = heading.split(" ")[0]!;
  const next = markdown.indexOf(`\n${level} `, start + heading.length + 2);
  return markdown.slice(start, next < 0 ? undefined : next);
}

describe("the licence", () => {
  it("LICENSE is the plain Apache-2.0 text, and every package says Apache-2.0", () => {
    expect(createHash("sha256").update(read("LICENSE")).digest("hex")).toBe(APACHE_2_0_SHA256);
    for (const workspace of [".", "protocol", "runtime", "lock-sim", "bridge", "cloud", "scripts", "test"]) {
      const pkg = JSON.parse(read(join(workspace, "package.json"))) as { license?: string };
      expect({ workspace, license: pkg.license }).toEqual({ workspace, license: "Apache-2.0" });
    }
  });
});

describe("walk-throughs", () => {
  it("name jq and openssl in their prose wherever their shell lines use them", () => {
    for (const file of MARKDOWN) {
      const { shell, prose } = split(read(file));
      for (const tool of ["jq", "openssl"]) {
        if (shell.some((block) => new RegExp(`(^|[|(;\\s])${tool}\\s`, "m").test(block)))
          expect(prose, `${file} uses ${tool}`).toContain(`\`${tool}\``);
      }
    }
  });

  it("the gateway walk-through says where $CLIENT_ID, $CLIENT_SECRET and $LH come from and sets each before use", () => {
    const gateway = section(read("README.md"), "## A bridge on a gateway, against a real cloud and an external broker");
    const { shell, prose } = split(gateway);
    for (const name of ["CLIENT_ID", "CLIENT_SECRET", "LH"]) expect(prose).toContain(`\`${name}\``);
    expect(prose).toContain("latchkey-cloud bootstrap --json");
    // Every variable a shell line reads was assigned on an earlier line (or exported) of the walk-through.
    const assigned = new Set<string>();
    for (const line of shell.join("\n").split("\n")) {
      for (const [, name] of line.matchAll(/\$\{?([A-Z_][A-Z0-9_]*)/g))
        expect(assigned.has(name!), `$${name} used before it is set: ${line}`).toBe(true);
      for (const [, name] of line.matchAll(/(?:^|[\s;(]|export )([A-Z_][A-Z0-9_]*)=/g)) assigned.add(name!);
    }
  });

  it("writes bridge.json, which holds the bridge's secret, with mode 0600 (umask 077)", () => {
    const { shell } = split(read("README.md"));
    const writes = shell.flatMap((block) => block.split(/\n(?!\s)/)).filter((cmd) => /> ?bridge\.json/.test(cmd));
    expect(writes.length).toBeGreaterThan(0);
    for (const cmd of writes) expect(cmd).toMatch(/^\(umask 077; /);
  });
});
