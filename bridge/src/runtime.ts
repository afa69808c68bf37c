/**
 * Node flags the bridge runs with: the bin's shebang (`#!/usr/bin/env -S node …`, so `latchkey-bridge` and the systemd
 * unit get them) and the benchmarks that spawn it. A small young generation keeps a gateway's resident memory low
 * (about 20 MB less with 1,000 locks connected: V8 otherwise grows it to 32 MB under load and keeps it), at the cost
 * of more frequent scavenges (more CPU per message under sustained load).
 */
export const BRIDGE_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2"];
