import { parseArgs } from "node:util";
import { Air } from "./air.js";
import { HciLog } from "./btmon-log.js";
import { serveH4 } from "./h4-server.js";

/**
 * A standalone air: `node lock-sim/dist/src/ble/hci-emulator/air-server-main.js [--listen tcp://127.0.0.1:0]
 * [--loss 0.1] [--latency 5] [--att-mtu 23] [--seed s] [--log]`. Prints `tcp://127.0.0.1:<port>` (or the unix
 * address) on stdout once listening; each process that connects gets its own controller on this air (h4-server.ts).
 * `--log` writes the btmon-like log of every controller to stderr. Stops on SIGINT or SIGTERM.
 */
const USAGE =
  "usage: air-server-main [--listen tcp://127.0.0.1:0 | unix:/path] [--loss 0..1] [--latency ms] [--att-mtu 23..517] [--seed s] [--log]";

function number(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new TypeError(`--${name} ${text} is not a number`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: "string" },
      loss: { type: "string" },
      latency: { type: "string" },
      "att-mtu": { type: "string" },
      seed: { type: "string" },
      log: { type: "boolean" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const log = values.log ? new HciLog((line) => process.stderr.write(`${line}\n`), 0) : null;
  const lossRate = number("loss", values.loss);
  const latencyMs = number("latency", values.latency);
  const attMtu = number("att-mtu", values["att-mtu"]);
  const air = new Air({
    seed: values.seed ?? "air",
    ...(lossRate !== undefined && { lossRate }),
    ...(latencyMs !== undefined && { latencyMs }),
    ...(attMtu !== undefined && { attMtu }),
    ...(log !== null && { log: log.sink }),
  });
  let n = 0;
  const server = await serveH4({
    air,
    listen: values.listen ?? "tcp://127.0.0.1:0",
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
  process.stderr.write(`${e.message}\n${USAGE}\n`);
  process.exit(2);
});
