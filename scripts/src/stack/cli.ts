import { UsageError } from "@latchkey/runtime";
import { CommanderError } from "commander";
import { PACKAGE_VERSION } from "../cli/version.js";
import { startConsole } from "./console.js";
import { runDemo } from "./demo.js";
import { buildStackProgram, parseStackArgs } from "./options.js";
import { Output } from "./output.js";
import { type RunningStack, startStack } from "./stack.js";
import { printSummary, writeSummaryJson } from "./summary.js";

export interface StackCliIo {
  stdout: NodeJS.WriteStream | { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

/**
 * `npm start` (latchkey-stack). Exit codes: 0 after a clean stop (Ctrl-C) or a passed demo, 1 when something failed
 * while starting or running, or the demo failed, 2 on a usage error (the message names the flag).
 */
export async function runStackCli(argv: string[], io: StackCliIo = defaultIo()): Promise<number> {
  let options: ReturnType<typeof parseStackArgs>;
  try {
    options = parseStackArgs(argv, io.env);
  } catch (e) {
    if (e instanceof CommanderError && e.code === "commander.version") {
      io.stdout.write(`${PACKAGE_VERSION}\n`);
      return 0;
    }
    if (e instanceof CommanderError) {
      io.stdout.write(buildStackProgram().helpInformation());
      return 0;
    }
    if (e instanceof UsageError) {
      io.stderr.write(`latchkey-stack: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const out = new Output(io.stdout, io.env);
  const abort = new AbortController();
  let stack: RunningStack | null = null;
  let signals = 0;
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        out.raw(`\n${signal}: stopping the locks, the bridge and the cloud…`);
        abort.abort(new Error(`stopped by ${signal}`));
        resolve(signal);
      } else if (signals >= 3) {
        io.stderr.write("latchkey-stack: forced exit\n");
        process.exit(1);
      } else out.raw("still stopping (a third Ctrl-C forces it)");
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });

  out.line("stack", `starting latchkey (data in ${options.dataDir})`, "magenta");
  out.quiet = true;
  try {
    // A signal during the start aborts it: startStack stops what it started, then rejects.
    stack = await startStack(options, out, io.env, abort.signal);
  } catch (e) {
    if (abort.signal.aborted) {
      out.line("stack", "stopped", "magenta");
      return 0;
    }
    io.stderr.write(`latchkey-stack: ${describe(e)}\n`);
    return 1;
  }

  // The file first: whoever waits for it may be reading the terminal too.
  if (options.summaryJson) writeSummaryJson(options.summaryJson, stack.summary);
  printSummary(out, stack.summary, stack.details);
  if (options.summaryJson) out.line("stack", `summary written to ${options.summaryJson}`, "magenta");

  let code = 0;
  if (options.demo) {
    out.quiet = true;
    const passed = await Promise.race([
      runDemo(stack, out),
      stack.failure,
      stopped.then(() => "signal" as const),
    ]).catch((e: Error) => {
      io.stderr.write(`latchkey-stack: ${e.message}\n`);
      return false;
    });
    // Ctrl-C during the demo is a clean stop, not a failure.
    code = passed === false ? 1 : 0;
    out.quiet = false;
    if (!options.keepRunning || passed !== true) {
      await stack.stop();
      out.line("stack", "stopped", "magenta");
      return code;
    }
  }

  out.quiet = false;
  out.raw(`Ctrl-C stops everything.${options.console ? " Type help for commands." : ""}\n`);
  const rl = options.console ? startConsole(stack, out, io.stdin) : null;
  const outcome = await Promise.race([stopped.then(() => "signal" as const), stack.failure]).catch((e: Error) => e);
  rl?.close();
  if (outcome instanceof Error) {
    io.stderr.write(`latchkey-stack: ${outcome.message}; stopping the rest\n`);
    code = 1;
  }
  await stack.stop();
  out.line("stack", "stopped", "magenta");
  return code;
}

function describe(e: unknown): string {
  // Our errors (state file, ports, data directory, provisioning, children) carry messages meant for the user.
  return e instanceof Error ? e.message : String(e);
}

function defaultIo(): StackCliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}
