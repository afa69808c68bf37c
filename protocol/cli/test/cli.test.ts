import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { toBase64Url, toHex } from "../../src/index.js";
import { claims, device, issuer, kid, NOW, token } from "../../test/helpers.js";
import { runTokenCli } from "../src/token.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTokenCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const trustArg = `${toHex(kid)}=${toHex(issuer.publicKey)}`;

/** `verify` of a token file against the fixture issuer, at lock-1 at NOW with `--json`, but for what is given. */
function verifyArgs(
  tokenFile: string,
  o: { lock?: string; now?: number; json?: boolean; extra?: string[] } = {},
): string[] {
  const json = o.json === false ? [] : ["--json"];
  const at = ["--lock", o.lock ?? "lock-1", "--now", String(o.now ?? NOW)];
  return ["verify", "--trust", trustArg, ...at, ...(o.extra ?? []), ...json, tokenFile];
}
const file = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe("latchkey-token", () => {
  it("keygen prints a key pair that signs and verifies", async () => {
    const r = await run("keygen");
    expect(r.code).toBe(0);
    const pair = JSON.parse(r.out) as { secret: string; public: string };
    expect(pair.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(pair.public).toMatch(/^[0-9a-f]{64}$/);
  });

  it("sign produces the same token as the library", async () => {
    const c = claims();
    const claimsFile = file("claims.json", JSON.stringify({ ...c, cti: toHex(c.cti), cnf: toHex(c.cnf) }));
    const r = await run("sign", "--secret", toHex(issuer.secretKey), "--kid", toHex(kid), "--claims", claimsFile);
    expect(r).toMatchObject({ code: 0, out: toHex(token()) });
  });

  it("verify accepts hex, base64url and raw CBOR, exit 0 with claims", async () => {
    for (const content of [toHex(token()), toBase64Url(token()), token()]) {
      const r = await run(...verifyArgs(file("t", content)));
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({
        ok: true,
        claims: { aud: "lock-1", cti: "00112233445566778899aabbccddeeff", cnf: toHex(device.publicKey) },
      });
    }
  });

  it("verify rejects with exit 1 and the code", async () => {
    const t = file("t.hex", toHex(token()));
    const base = ["verify", "--trust", trustArg, "--now", String(NOW), "--json", t];
    expect(JSON.parse((await run(...base, "--lock", "lock-2")).out)).toMatchObject({ ok: false, code: "wrong_lock" });
    const revoked = await run(
      ...base,
      "--lock",
      "lock-1",
      "--revoked",
      "ff".repeat(16) + ",00112233445566778899aabbccddeeff",
    );
    expect(revoked.code).toBe(1);
    expect(JSON.parse(revoked.out)).toMatchObject({ code: "revoked" });
    const late = await run(...verifyArgs(t, { now: NOW + 3600, json: false, extra: ["--leeway", "0"] }));
    expect(late).toMatchObject({ code: 1 });
    expect(late.out).toMatch(/^rejected \(expired\)/);
    const garbage = await run(...verifyArgs(file("g", "zz not a token"), { now: 1 }));
    expect(garbage.code).toBe(1);
    expect(JSON.parse(garbage.out)).toMatchObject({ code: "malformed" });
  });

  it("usage errors exit 2 and name the flag or field", async () => {
    const t = file("t2.hex", toHex(token()));
    const cases: [string[], RegExp][] = [
      [["verify", "--lock", "l", "--now", "1", t], /--trust/],
      [["verify", "--trust", "nothex", "--lock", "l", "--now", "1", t], /--trust/],
      [["verify", "--trust", trustArg, "--lock", "l", "--now", "soon", t], /--now/],
      [["verify", "--trust", trustArg, "--lock", "l", "--now", "1", "--revoked", "abc", t], /--revoked/],
      [["verify", "--trust", trustArg, "--lock", "l", "--now", "1", join(dir, "missing")], /cannot read/],
      [["sign", "--secret", "00", "--kid", "01", "--claims", t], /--secret/],
      [
        ["sign", "--secret", toHex(issuer.secretKey), "--kid", "01", "--claims", file("bad.json", "{")],
        /--claims is not valid JSON/,
      ],
      [
        [
          "sign",
          "--secret",
          toHex(issuer.secretKey),
          "--kid",
          "01",
          "--claims",
          file("c.json", JSON.stringify({ iss: "x" })),
        ],
        /"sub"/,
      ],
      [["frobnicate"], /unknown command/],
      [[], /usage/],
    ];
    for (const [argv, pattern] of cases) {
      const r = await run(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toMatch(pattern);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("inspect prints diagnostic notation and readable dates", async () => {
    const r = await run("inspect", file("t3.hex", toHex(token())));
    expect(r.code).toBe(0);
    expect(r.out).toContain("18([");
    expect(r.out).toContain('16: "application/latchkey-key+cwt"');
    expect(r.out).toContain(`exp  ${NOW + 3600} (${new Date((NOW + 3600) * 1000).toISOString()})`);
  });
});

describe("the latchkey-token bin", () => {
  const bin = fileURLToPath(new URL("../../bin/latchkey-token.js", import.meta.url));
  const exec = promisify(execFile);
  it("runs from the built package with the contract's exit codes", async () => {
    const t = file("bin.hex", toHex(token()));
    const ok = await exec(process.execPath, [bin, ...verifyArgs(t)]);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true });
    const rejected = await exec(process.execPath, [bin, ...verifyArgs(t, { lock: "x", json: false })]).catch(
      (e: { code: number; stdout: string }) => e,
    );
    expect(rejected).toMatchObject({ code: 1 });
    const usage = await exec(process.execPath, [bin, "verify", t]).catch((e: { code: number; stderr: string }) => e);
    expect(usage).toMatchObject({ code: 2 });
  });
});
