import { createInterface, type Interface } from "node:readline";
import type { Output } from "./output.js";
import type { RunningStack } from "./stack.js";

const HELP = [
  "commands:",
  "  unlock <lockId>          the phone fetches its keys, then opens the lock over BLE (see --ble)",
  "  remote <lockId> [lock]   a remote unlock (or lock) through the Integrator API, carried by the bridge",
  "  keys                     the keys the phone holds",
  "  battery <lockId> <0-100> put new cells at that level into a lock (the cloud shows the battery state)",
  "  locks                    the locks as the cloud lists them",
  "  help",
  "Ctrl-C stops everything.",
].join("\n");

/** The commands that take arguments: given none, the console shows how to call them (issue 15 item 10). */
const USAGE: Record<string, string> = {
  unlock: "unlock <lockId>",
  remote: "remote <lockId> [unlock|lock]",
  battery: "battery <lockId> <0-100>",
};

/**
 * A few commands on standard input while the stack runs, so a newcomer can use the key they just created with curl
 * without writing code. Each command reports its outcome; a mistake names what was wrong.
 */
export function startConsole(stack: RunningStack, out: Output, input: NodeJS.ReadableStream): Interface {
  const rl = createInterface({ input, terminal: false });
  const lockIds = stack.fleet.locks.map((l) => l.id);
  const lockOf = (id: string | undefined) => {
    const lock = stack.fleet.locks.find((l) => l.id === id);
    if (!lock) throw new Error(`no such lock ${JSON.stringify(id ?? "")} (locks: ${lockIds.join(", ")})`);
    return lock;
  };
  const commands: Record<string, (args: string[]) => Promise<string>> = {
    help: async () => HELP,
    keys: async () => {
      const keys = await stack.phone.prefetch(stack.summary.apiUrl, stack.codes);
      if (keys.length === 0)
        return `the phone (${stack.phone.number}) holds no keys: create one with the curl line above`;
      return keys
        .map((k) => `${k.keyId} on ${k.lockId} (${k.state}, until ${new Date(k.claims.exp * 1000).toISOString()})`)
        .join("\n");
    },
    unlock: async ([id]) => {
      const lock = lockOf(id);
      await stack.phone.prefetch(stack.summary.apiUrl, stack.codes);
      const result = await stack.phone.unlock(lock.id, stack.ble.via(lock.id));
      return result.ok ? `${lock.id} unlocked with ${result.keyId}` : `${lock.id} refused: ${result.code}`;
    },
    remote: async ([id, what = "unlock"]) => {
      const lock = lockOf(id);
      if (what !== "unlock" && what !== "lock") throw new Error(`a remote action is unlock or lock, not ${what}`);
      const lh = stack.summary.lockHolderId;
      const created = await stack.client.createAction(lh, lock.id, what);
      const done = await stack.client.waitForAction(lh, lock.id, created.id, { timeoutMs: 70_000 });
      return done.status === "succeeded"
        ? `${lock.id}: remote ${what} ${done.id} succeeded (the lock's own report says so)`
        : `${lock.id}: remote ${what} ${done.id} ${done.status}${done.error ? `: ${done.error.code} (${done.error.message})` : ""}`;
    },
    battery: async ([id, level]) => {
      const lock = lockOf(id);
      const value = Number(level);
      if (!/^\d{1,3}$/.test(level ?? "") || value > 100)
        throw new Error("battery level must be a whole number from 0 to 100");
      lock.replaceBattery(value);
      return `${lock.id}: battery ${lock.battery.level} % (${lock.battery.state})`;
    },
    locks: async () => {
      const { locks } = await stack.client.listLocks(stack.summary.lockHolderId);
      return locks
        .map(
          (l) =>
            `${l.id} ${l.online ? "online" : "offline"}, battery ${l.battery ? `${l.battery.level} % (${l.battery.state})` : "unknown"}`,
        )
        .join("\n");
    },
  };
  let queue = Promise.resolve();
  rl.on("line", (line) => {
    const [name, ...args] = line.trim().split(/\s+/);
    if (!name) return;
    const command = commands[name];
    queue = queue.then(async () => {
      if (!command) {
        out.line("you", `unknown command ${JSON.stringify(name)}; try help`, "red");
        return;
      }
      const usage = USAGE[name];
      if (usage !== undefined && args.length === 0) {
        out.line("you", `usage: ${usage} (locks: ${lockIds.join(", ")})`, "red");
        return;
      }
      try {
        for (const text of (await command(args)).split("\n")) out.line("you", text, "green");
      } catch (e) {
        out.line("you", (e as Error).message, "red");
      }
    });
  });
  return rl;
}
