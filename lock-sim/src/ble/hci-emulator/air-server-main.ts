import { addCliOptions, type CliOptions, readCliOptions } from "@latchkey/runtime";
import { Type } from "@sinclair/typebox";
import { Command, CommanderError } from "commander";
import { Air } from "./air.js";
import { HciLog } from "./btmon-log.js";
import { serveH4 } from "./h4-server.js";

/**
 * A standalone air: `node lock-sim/dist/src/ble/hci-emulator/air-server-main.js [--listen tcp://127.0.0.1:0]
 * [--loss 0.1] [--latency 5] [--att-mtu 23] [--seed s] [--log]`. Prints `tcp://127.0.0.1:<port>` (or the unix
 * address) on stdout once listening; each process that connects gets its own controller on this air (h4-server.ts).
 * `--log` writes the btmon-like log of every controller to stderr. Stops on SIGINT or SIGTERM.
 */
const OPTIONS = {
  listen: {
    flags: "--listen <address>",
    description: "tcp://127.0.0.1:<port> or unix:/path",
    schema: Type.String(),
    default: "tcp://127.0.0.1:0",
  },
  loss: {
    flags: "--loss <rate>",
    description: "share of packets lost",
    schema: Type.Number({ minimum: 0, maximum: 1 }),
  },
  latency: { flags: "--latency <ms>", description: "delay of each packet", schema: Type.Number({ minimum: 0 }) },
  attMtu: { flags: "--att-mtu <n>", description: "ATT MTU", schema: Type.Integer({ minimum: 23, maximum: 517 }) },
  seed: { flags: "--seed <s>", description: "the air's random seed", schema: Type.String(), default: "air" },
  log: { flags: "--log", description: "every controller's btmon-like log on stderr", schema: Type.Boolean() },
} satisfies CliOptions;

async function main(argv: string[]): Promise<void> {
  const program = addCliOptions(new Command("air-server-main").exitOverride(), OPTIONS);
  try {
    program.parse(argv, { from: "user" });
  } catch (e) {
    process.exit(e instanceof CommanderError && e.exitCode === 0 ? 0 : 2);
  }
  const values = readCliOptions(OPTIONS, program.opts(), {});
  const log = values.log ? new HciLog((line) => process.stderr.write(`${line}\n`), 0) : null;
  const { loss: lossRate, latency: latencyMs, attMtu } = values;
  const air = new Air({
    seed: values.seed,
    ...(lossRate !== undefined && { lossRate }),
    ...(latencyMs !== undefined && { latencyMs }),
    ...(attMtu !== undefined && { attMtu }),
    ...(log !== null && { log: log.sink }),
  });
  let n = 0;
  const server = await serveH4({
    air,
    listen: values.listen,
    controller: (i) => ({
      address: `c0:de:00:00:10:${(i & 0xff).toString(16).padStart(2, "0")}`,
      name: `h4-${++n}`,
      ...(log !== null && { log: log.sink }),
    }),
  });
  process.stdout.write(`${server.address}\n`);
  const stop = async () => {
    await server.close();
    air.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main(process.argv.slice(2)).catch((e: Error) => {
  process.stderr.write(`air-server-main: ${e.message}\n`);
  process.exit(2);
});
