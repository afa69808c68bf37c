import { cpus, loadavg } from "node:os";
import { cpuMs } from "@latchkey/cloud/bench";

/** The machine's state beside every figure: the load averages say how noisy the run was. */
export function loadNote(): string {
  const [one, five] = loadavg();
  return `load ${one!.toFixed(2)}/${five!.toFixed(2)} (1/5 min), ${cpus().length} cores`;
}

/** Load before and after a measurement, for the row's note. */
export function loadSpan(): () => string {
  const before = loadavg()[0]!;
  return () => `load avg (1 min) ${before.toFixed(2)} → ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores`;
}

/**
 * CPU per item of each process over a measurement: start it, then call the answer with the item count. Shows where the
 * machine's time goes, and stays meaningful when other work on the machine slows every figure down.
 */
export function cpuPerItem(pids: Record<string, number | undefined>): (items: number) => string {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  return (items) =>
    Object.entries(pids)
      .map(([name, pid]) => {
        const [a, b] = [before[name], cpuMs(pid)];
        return a == null || b == null || items === 0 ? null : `${name} ${(((b - a) * 1000) / items).toFixed(0)} µs`;
      })
      .filter((s) => s !== null)
      .join(", ");
}
