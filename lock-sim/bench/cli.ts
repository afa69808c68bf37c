import { runLockSimBench } from "./index.js";

/** `npm run bench -w lock-sim`: prints the results as JSON (LOCKS and WINDOW env vars shorten a run). */
const options: { locks?: number; windowSeconds?: number } = {};
if (process.env.LOCKS) options.locks = Number(process.env.LOCKS);
if (process.env.WINDOW) options.windowSeconds = Number(process.env.WINDOW);
const result = await runLockSimBench(options);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
