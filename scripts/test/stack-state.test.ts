import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tempDirsEach } from "@latchkey/protocol/testing/temp-dirs";
import { describe, expect, it } from "vitest";
import { DataDirInUseError, lockDataDir } from "../src/stack/data-lock.js";
import { loadState, newState, StateFileError, saveState, stateFile } from "../src/stack/state.js";

describe("the stack's state file", () => {
  const dir = tempDirsEach("latchkey-state-");

  it("is absent at first; saved with mode 0600 and read back the same", () => {
    const d = dir();
    expect(loadState(d)).toBeNull();
    const state = newState();
    state.integrator = { integratorId: "int_1", clientId: "cl_1", clientSecret: "lkcs_0123456789" };
    state.locks = ["sim-lock-001"];
    saveState(d, state);
    expect(statSync(stateFile(d)).mode & 0o777).toBe(0o600);
    expect(loadState(d)).toEqual(state);
  });

  it("fresh states have fresh secrets and a device seed", () => {
    const a = newState();
    const b = newState();
    expect(a.siteSecret).not.toBe(b.siteSecret);
    expect(a.vendor.password).not.toBe(b.vendor.password);
    expect(a.phone.deviceSeed).toMatch(/^[0-9a-f]{64}$/);
    expect(a.phone.number).toBe("+4791234567");
  });

  it("a damaged file is an error naming the file and the field, never silently replaced", () => {
    const d = dir();
    writeFileSync(stateFile(d), "{ not json");
    expect(() => loadState(d)).toThrow(StateFileError);
    expect(() => loadState(d)).toThrow(/stack\.json: not valid JSON/);
    const state = newState() as unknown as Record<string, unknown>;
    state.siteSecret = "short";
    writeFileSync(stateFile(d), JSON.stringify(state));
    expect(() => loadState(d)).toThrow(/\/siteSecret/);
    expect(readFileSync(stateFile(d), "utf8")).toContain("short");
  });
});

describe("one stack per data directory", () => {
  it("refuses a directory a live stack holds, and takes over one left by a process that is gone", async () => {
    const d = mkdtempSync(join(tmpdir(), "latchkey-lock-"));
    const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    try {
      writeFileSync(join(d, "stack.pid"), `${other.pid}\n`);
      expect(() => lockDataDir(d)).toThrow(DataDirInUseError);
      expect(() => lockDataDir(d)).toThrow(`is in use by another latchkey-stack (pid ${other.pid})`);
      const gone = new Promise((r) => other.once("exit", r));
      other.kill("SIGKILL");
      await gone;
      const release = lockDataDir(d);
      expect(readFileSync(join(d, "stack.pid"), "utf8")).toBe(`${process.pid}\n`);
      release();
      expect(existsSync(join(d, "stack.pid"))).toBe(false);
    } finally {
      other.kill("SIGKILL");
      rmSync(d, { recursive: true, force: true });
    }
  });
});
