import { describe, expect, it } from "vitest";
import { PollTimeoutError, pollUntil } from "../src/wait.js";

describe("pollUntil", () => {
  it("returns the first truthy answer, and names what it waited for at the deadline", async () => {
    let n = 0;
    expect(await pollUntil("n to reach 3", () => ++n >= 3 && n, { intervalMs: 1 })).toBe(3);
    const error = await pollUntil(
      "the impossible",
      () => {
        throw new Error("still broken");
      },
      { timeoutMs: 20, intervalMs: 5 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe("timed out waiting for the impossible: still broken");
    const aborted = new AbortController();
    aborted.abort(new Error("stopped"));
    await expect(pollUntil("x", () => false, { signal: aborted.signal })).rejects.toThrow("stopped");
  });

  it("awaits an async check, and forgets a failure once a later check answers without throwing", async () => {
    let n = 0;
    const error = await pollUntil(
      "a settled answer",
      async () => {
        n++;
        if (n === 1) throw new Error("first try failed");
        return false;
      },
      { timeoutMs: 30, intervalMs: 1 },
    ).catch((e: unknown) => e);
    expect(n).toBeGreaterThan(1);
    expect((error as PollTimeoutError).last).toBeUndefined();
    expect((error as Error).message).toBe("timed out waiting for a settled answer");
  });

  it("reads its deadline from an injected clock", async () => {
    let t = 1_000;
    let checks = 0;
    const error = await pollUntil(
      "a clock that moves 10 ms a check",
      () => {
        checks++;
        t += 10;
        return false;
      },
      { timeoutMs: 50, intervalMs: 0, now: () => t },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect(checks).toBe(5);
  });
});
