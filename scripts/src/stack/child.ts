import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { createInterface } from "node:readline";

/** One line a child wrote: its pino record when the line is JSON, else the text. */
export interface ChildLine {
  /** 0 for the child's first line, counting on: `waitForLine(…, {since})` skips older lines. */
  n: number;
  stream: "stdout" | "stderr";
  text: string;
  record: Record<string, unknown> | null;
}

export interface SpawnNodeOptions {
  /** Shown in messages ("cloud", "bridge"). */
  name: string;
  /** The script to run with this Node (a package's bin)… */
  script?: string;
  /** Node flags before `script` (e.g. a bin's shebang flags, `--cpu-prof`). */
  nodeArgs?: string[];
  /** …or any other command (e.g. npm), found on PATH. */
  command?: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Lines kept for waiting and for failure messages (default 2000). */
  keepLines?: number;
  /**
   * Run in a process group of its own, so a Ctrl-C in the terminal reaches only the parent, which then stops its
   * children in order (default false).
   */
  ownProcessGroup?: boolean;
  /** "pipe" to write to the child's standard input (`write`); default "ignore". */
  stdin?: "ignore" | "pipe";
}

export class ChildExitedError extends Error {
  constructor(
    readonly child: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly tail: string[],
  ) {
    super(
      `${child} exited (${signal ?? `code ${code}`}) before it was ready${tail.length ? `; last output:\n  ${tail.join("\n  ")}` : ""}`,
    );
    this.name = "ChildExitedError";
  }
}

/**
 * A child process (one of our bins, run by this Node) whose output is read line by line: pino JSON lines are parsed, so callers
 * can wait for a log record (`waitForLine`) instead of sleeping. Stopping sends a signal and waits for the exit, with
 * SIGKILL after a deadline, so nothing outlives the launcher or a test.
 */
export class ManagedChild extends EventEmitter<{ line: [ChildLine]; exit: [number | null, NodeJS.Signals | null] }> {
  readonly name: string;
  readonly process: ChildProcess;
  readonly lines: ChildLine[] = [];
  private readonly keep: number;
  private count = 0;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;

  constructor(options: SpawnNodeOptions) {
    super();
    this.name = options.name;
    this.keep = options.keepLines ?? 2000;
    if ((options.script === undefined) === (options.command === undefined))
      throw new TypeError(`${options.name}: give either script or command`);
    const [command, args] =
      options.command !== undefined
        ? [options.command, options.args]
        : [process.execPath, [...(options.nodeArgs ?? []), options.script!, ...options.args]];
    this.process = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
      detached: options.ownProcessGroup === true,
    });
    this.exited = new Promise((resolve) => {
      this.process.once("exit", (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve({ code, signal });
      });
      // A spawn failure (no such executable) emits error and never exit.
      this.process.once("error", (e) => {
        this.push("stderr", `spawn failed: ${e.message}`);
        this.exitCode = -1;
        resolve({ code: -1, signal: null });
      });
    });
    this.exited.then(({ code, signal }) => this.emit("exit", code, signal));
    for (const stream of ["stdout", "stderr"] as const) {
      const source = this.process[stream];
      if (!source) continue;
      createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (text) =>
        this.push(stream, text),
      );
    }
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Writes to the child's standard input (spawned with `stdin: "pipe"`). */
  write(text: string): void {
    if (!this.process.stdin) throw new Error(`${this.name}: spawned without stdin: "pipe"`);
    this.process.stdin.write(text);
  }

  /** How many lines the child has written so far (the `n` of its next line). */
  get lineCount(): number {
    return this.count;
  }

  private push(stream: ChildLine["stream"], text: string): void {
    const line: ChildLine = { n: this.count++, stream, text, record: parseRecord(text) };
    this.lines.push(line);
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
    this.emit("line", line);
  }

  /** The last `n` lines as text, for error messages. */
  tail(n = 15): string[] {
    return this.lines.slice(-n).map((l) => l.text);
  }

  /**
   * Resolves with the first line (already seen or still to come) that `match` accepts; rejects when the child exits
   * first or after `timeoutMs`.
   */
  waitForLine(
    what: string,
    match: (line: ChildLine) => boolean,
    options: { timeoutMs?: number; since?: number } = {},
  ): Promise<ChildLine> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const since = options.since ?? 0;
    const accept = (line: ChildLine) => line.n >= since && match(line);
    const seen = this.lines.find(accept);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off("line", onLine);
        this.off("exit", onExit);
      };
      const onLine = (line: ChildLine) => {
        if (!accept(line)) return;
        cleanup();
        resolve(line);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        reject(new ChildExitedError(this.name, code, signal, this.tail()));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; last output:\n  ${this.tail().join("\n  ")}`,
          ),
        );
      }, timeoutMs);
      this.on("line", onLine);
      this.on("exit", onExit);
      if (!this.running) onExit(this.exitCode, this.exitSignal);
    });
  }

  /** Resolves with the pino record whose `msg` is `msg` (and that `extra` accepts). */
  async waitForLog(
    msg: string,
    extra: (record: Record<string, unknown>) => boolean = () => true,
    options: { timeoutMs?: number; since?: number } = {},
  ): Promise<Record<string, unknown>> {
    const line = await this.waitForLine(
      `the log line "${msg}"`,
      (l) => l.record !== null && l.record.msg === msg && extra(l.record),
      options,
    );
    return line.record!;
  }

  /** Waits for the exit; answers the exit code (null when killed by a signal). */
  async waitForExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }

  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `graceMs`. */
  async stop(
    signal: NodeJS.Signals = "SIGTERM",
    graceMs = 15_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exited;
    this.process.kill(signal);
    const timer = setTimeout(() => {
      if (this.running) this.process.kill("SIGKILL");
    }, graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills at once (SIGKILL) and waits for the exit. */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.stop("SIGKILL", 0);
  }
}

function parseRecord(text: string): Record<string, unknown> | null {
  if (!text.startsWith("{")) return null;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
