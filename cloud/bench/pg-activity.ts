import { readFileSync } from "node:fs";
import { Client } from "pg";
import { cpuMs } from "./process-cpu.js";

/**
 * What a PostgreSQL-bound bench waits on (issue 17 item 5): while `work` runs, pg_stat_activity is sampled every
 * SAMPLE_MS for the backends of the bench's database (each active backend's wait event, "CPU" when it waits on
 * nothing), and the CPU those backends and the whole machine used is read from /proc before and after. Linux only for
 * the CPU figures (null elsewhere).
 */

const SAMPLE_MS = 50;

export interface PgActivity {
  /** CPU ms the database's backends used (user + system, /proc), over the work. */
  backendCpuMs: number | null;
  /** Share of all cores busy over the work (/proc/stat: everything on the machine, other work included). */
  machineBusy: number | null;
  /** Mean active backends per sample (a backend running a statement or in one: not idle, not idle in transaction). */
  activeBackends: number;
  /** Per wait (`type:event`, or `CPU`), its share of the active backends' samples; `idle in transaction` too. */
  waits: Record<string, number>;
  samples: number;
  /**
   * The database's commits and rollbacks over the work (pg_stat_database, flushed by each backend within a second or
   * so: approximate). The cloud rolls back only when a transaction failed, mostly a serialization failure it retries.
   */
  commits: number;
  rollbacks: number;
}

function machineTicks(): { busy: number; total: number } | null {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - cpu[3]! - cpu[4]!, total };
  } catch {
    return null;
  }
}

export async function withPgActivity<T>(databaseUrl: string, work: () => Promise<T>): Promise<[T, PgActivity]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const backends = async () =>
    (
      await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
      )
    ).rows.map((r) => r.pid);
  const cpuOf = (pids: number[]) => {
    const m = new Map<number, number>();
    for (const pid of pids) {
      const ms = cpuMs(pid);
      if (ms !== null) m.set(pid, ms);
    }
    return m;
  };
  const xacts = async () => {
    await client.query("SELECT pg_stat_clear_snapshot()");
    const { rows } = await client.query<{ c: string; r: string }>(
      "SELECT xact_commit AS c, xact_rollback AS r FROM pg_stat_database WHERE datname = current_database()",
    );
    return { commits: Number(rows[0]!.c), rollbacks: Number(rows[0]!.r) };
  };
  try {
    const xactsBefore = await xacts();
    const before = cpuOf(await backends());
    const ticksBefore = machineTicks();
    const counts = new Map<string, number>();
    let active = 0;
    let samples = 0;
    let done = false;
    const sampler = (async () => {
      while (!done) {
        const { rows } = await client.query<{ state: string | null; wt: string | null; we: string | null }>(
          `SELECT state, wait_event_type AS wt, wait_event AS we FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        );
        samples++;
        for (const r of rows) {
          const key =
            r.state === "active"
              ? r.wt === null
                ? "CPU"
                : `${r.wt}:${r.we}`
              : r.state === "idle in transaction"
                ? "idle in transaction"
                : null;
          if (key === null) continue;
          if (r.state === "active") active++;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
      }
    })();
    let result: T;
    try {
      result = await work();
    } finally {
      done = true;
      await sampler;
    }
    const after = cpuOf(await backends());
    const ticksAfter = machineTicks();
    // Backends report their counts when idle, at most once a second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const xactsAfter = await xacts();
    let backendCpuMs: number | null = after.size || before.size ? 0 : null;
    // A backend that started during the work counts from zero; one that ended is lost (the pools keep theirs).
    for (const [pid, ms] of after) backendCpuMs = (backendCpuMs ?? 0) + ms - (before.get(pid) ?? 0);
    const seen = [...counts.values()].reduce((a, b) => a + b, 0);
    return [
      result,
      {
        backendCpuMs,
        machineBusy:
          ticksBefore && ticksAfter
            ? (ticksAfter.busy - ticksBefore.busy) / Math.max(1, ticksAfter.total - ticksBefore.total)
            : null,
        activeBackends: samples ? active / samples : 0,
        waits: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, n / Math.max(1, seen)])),
        samples,
        commits: xactsAfter.commits - xactsBefore.commits,
        rollbacks: xactsAfter.rollbacks - xactsBefore.rollbacks,
      },
    ];
  } finally {
    await client.end();
  }
}
