import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PRIVATE_FILE_MODE, widerMode } from "../src/index.js";

describe("widerMode", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const file = (mode: number) => {
    const dir = mkdtempSync(join(tmpdir(), "modes-"));
    dirs.push(dir);
    const path = join(dir, "f");
    writeFileSync(path, "");
    chmodSync(path, mode);
    return path;
  };

  it("names a mode that grants more than allowed, and the bits it keeps; changes nothing", () => {
    const path = file(0o644);
    expect(widerMode(path, PRIVATE_FILE_MODE)).toEqual({ path, was: 0o644, narrowed: 0o600 });
    expect(widerMode(file(0o444), PRIVATE_FILE_MODE)).toMatchObject({ was: 0o444, narrowed: 0o400 });
    expect(widerMode(path, 0o777)).toBeUndefined();
    expect(widerMode(path, PRIVATE_FILE_MODE)?.was).toBe(0o644);
  });

  it("is undefined for a mode within allowed and for a missing path", () => {
    expect(widerMode(file(0o600), PRIVATE_FILE_MODE)).toBeUndefined();
    expect(widerMode(file(0o400), PRIVATE_FILE_MODE)).toBeUndefined();
    expect(widerMode(join(tmpdir(), "latchkey-no-such-file"), PRIVATE_FILE_MODE)).toBeUndefined();
  });
});
