import type { Output } from "./output.js";

export interface StepResult {
  title: string;
  ok: boolean;
  ms: number;
  detail?: string;
  error?: string;
}

/**
 * A scripted scenario's progress: one line per step with ✓ or ✗ and its time. The first failure stops the scenario
 * (later steps build on earlier ones); `passed` is the verdict.
 */
export class Progress {
  readonly steps: StepResult[] = [];
  private failed = false;
  private readonly began = Date.now();

  constructor(private readonly out: Output) {}

  get passed(): boolean {
    return !this.failed && this.steps.length > 0;
  }

  /** Runs one step; `describe` adds what came of it to the line. Throws StepFailed when the step fails. */
  async step<T>(title: string, run: () => Promise<T>, describe?: (value: T) => string): Promise<T> {
    if (this.failed) throw new StepFailed(title, "an earlier step failed");
    const began = Date.now();
    try {
      const value = await run();
      const detail = describe?.(value);
      const ms = Date.now() - began;
      this.steps.push({ title, ok: true, ms, ...(detail ? { detail } : {}) });
      this.out.raw(
        `  ${this.out.style("✓", "green")} ${title}${detail ? `: ${detail}` : ""} ${this.out.style(`(${ms} ms)`, "dim")}`,
      );
      return value;
    } catch (e) {
      const ms = Date.now() - began;
      const error = (e as Error).message;
      this.failed = true;
      this.steps.push({ title, ok: false, ms, error });
      this.out.raw(`  ${this.out.style("✗", "red")} ${title} ${this.out.style(`(${ms} ms)`, "dim")}\n      ${error}`);
      throw new StepFailed(title, error);
    }
  }

  /** The closing line: PASS or FAIL, steps and total time. */
  verdict(): string {
    const total = ((Date.now() - this.began) / 1000).toFixed(1);
    const done = this.steps.filter((s) => s.ok).length;
    return this.passed
      ? this.out.style(`PASS: ${done} steps in ${total} s`, "bold", "green")
      : this.out.style(
          `FAIL: ${this.steps.find((s) => !s.ok)?.title ?? "no step ran"} (${done} steps passed, ${total} s)`,
          "bold",
          "red",
        );
  }
}

export class StepFailed extends Error {
  constructor(
    readonly step: string,
    reason: string,
  ) {
    super(`${step}: ${reason}`);
    this.name = "StepFailed";
  }
}
