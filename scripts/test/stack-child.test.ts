import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildExitedError, ManagedChild } from "../src/stack/child.js";

describe("ManagedChild", () => {
  let dir: string;
  const children: ManagedChild[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "latchkey-child-"));
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  function run(name: string, source: string): ManagedChild {
    const script = join(dir, `${name}.mjs`);
    writeFileSync(script, source);
    const child = new ManagedChild({ name, script, args: [] });
    children.push(child);
    return child;
  }

  it("parses pino lines and waits for a record, only among lines from `since` on", async () => {
    const child = run(
      "talker",
      `const log = (o) => console.log(JSON.stringify({ level: 30, ...o }));
       log({ msg: "one-time code", phoneNumber: "+47", code: "111111" });
       const alive = setInterval(() => {}, 1000);
       process.on("SIGTERM", () => { log({ msg: "bye" }); clearInterval(alive); });
       setTimeout(() => log({ msg: "one-time code", phoneNumber: "+47", code: "222222" }), 50);`,
    );
    const first = await child.waitForLog("one-time code");
    expect(first.code).toBe("111111");
    const since = 1;
    const newer = await child.waitForLog("one-time code", (r) => r.phoneNumber === "+47", { since });
    expect(newer.code).toBe("222222");
    expect(child.lines[0]).toMatchObject({ n: 0, stream: "stdout", record: { code: "111111" } });
    expect(await child.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(child.lines.at(-1)?.record?.msg).toBe("bye");
    expect(child.running).toBe(false);
  });

  it("a child that exits before the line comes is an error carrying its last output", async () => {
    const child = run("crasher", `console.error("latchkey-x: --port must be a number"); process.exit(2);`);
    const error = await child.waitForLog("listening").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChildExitedError);
    expect((error as Error).message).toMatch(
      /crasher exited \(code 2\) before it was ready; last output:\n {2}latchkey-x: --port/,
    );
  });

  it("waiting has a deadline that names what was awaited", async () => {
    const child = run("silent", "setInterval(() => {}, 1000);");
    await expect(child.waitForLog("never", () => true, { timeoutMs: 100 })).rejects.toThrow(
      /silent: timed out after 100 ms waiting for the log line "never"/,
    );
  });

  it("a child that ignores SIGTERM is killed after the grace period", async () => {
    const child = run(
      "stubborn",
      `process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000);`,
    );
    await child.waitForLine("ready", (l) => l.text === "ready");
    expect(await child.stop("SIGTERM", 200)).toEqual({ code: null, signal: "SIGKILL" });
  });

  it("needs exactly one of script and command", () => {
    expect(() => new ManagedChild({ name: "x", args: [] })).toThrow(/either script or command/);
  });
});
