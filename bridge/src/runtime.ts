/**
 * Node flags the bridge runs with: the bin's shebang (`#!/usr/bin/env -S node …`, so `latchkey-bridge` and the systemd
 * unit get them) and the benchmarks that spawn it. A small young generation keeps a gateway's resident memory low
 * (about 20 MB less with 1,000 locks connected: V8 otherwise grows it to 32 MB under load and keeps it), at the cost
 * of more frequent scavenges (more CPU per message under sustained load).
 *
 * One V8 platform worker (`--v8-pool-size=1`; Node's default is 4, whatever the cores): V8 runs its background GC
 * (concurrent marking, sweeping) and compile tasks there. With three threads fewer an idle bridge is ~1.4 MB smaller
 * (69.2–69.8 MB against 70.9–71.9, alternating probes, scripts/README.md "Issue 17, fifth pass"), and its CPU per event
 * did not grow (54, 65 µs against 58, 75 in alternating runs); a gateway has 2–4 cores, and the event loop is one of
 * them.
 *
 * `--optimize-for-size`: V8 trades speed for memory in its heuristics (smaller heap growth steps, less eager
 * optimization). An idle bridge 69.3 → 66.5 MB, 1,000 locks 92.7 → 90.5 MB, with the same CPU per event on the event
 * path within the runs' spread (scripts/README.md "Issue 17, sixth pass: the whole bench on a quiet machine").
 *
 * Not set: `MALLOC_ARENA_MAX` (glibc's per-thread arenas hold ~1 MB of an idle bridge in all; 1 or 2 moved the idle
 * RSS within its spread) and `UV_THREADPOOL_SIZE` (libuv starts its pool on first use; not measured).
 */
export const BRIDGE_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=2",
  "--v8-pool-size=1",
  "--optimize-for-size",
];
