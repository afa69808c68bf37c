import { createServer } from "node:net";

export class PortInUseError extends Error {
  constructor(
    readonly flag: string,
    readonly port: number,
  ) {
    super(`${flag} ${port}: the port is taken by another process on 127.0.0.1 (choose another, or 0 for any free one)`);
    this.name = "PortInUseError";
  }
}

/** Whether something can listen on `host:port` now. */
export function portIsFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE" || e.code === "EACCES") resolve(false);
      else reject(e);
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Ports handed out by `freePort`: below Linux's ephemeral range (32768–60999), where the kernel puts every port-0
 * listener and every outgoing connection, so nothing else takes one between the check and the bind. Each test worker
 * (VITEST_POOL_ID) has a band of its own, so two workers running at once never pick the same port; within a process a
 * counter never hands one out twice.
 */
const BAND_BASE = 20_000;
const BAND_SIZE = 1_500;
const BANDS = 8;
let next = -1;

/**
 * A port free right now, for a process the caller starts later on it (a site's cloud, broker or metrics listener keep
 * their ports across restarts). Answers a kernel-chosen port when its whole band is taken.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const worker = Number(process.env.VITEST_POOL_ID ?? process.pid);
  const base = BAND_BASE + (Math.abs(Math.trunc(worker)) % BANDS) * BAND_SIZE;
  if (next < 0) next = (process.pid * 7) % BAND_SIZE;
  for (let tries = 0; tries < BAND_SIZE; tries++) {
    const port = base + (next++ % BAND_SIZE);
    if (await portIsFree(port, host)) return port;
  }
  return kernelPort(host);
}

function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port: 0, host }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface PortChoice {
  /** What to give the process: the wanted port, or 0 (any free port) when the default was taken. */
  port: number;
  /** Set when the default was taken and the stack falls back to a free port. */
  fallback: boolean;
}

/**
 * A default port that is taken (a Mosquitto on 1883 is common on gateways) is no error: the process gets port 0,
 * takes any free port, and the launcher says which. A port the user asked for explicitly must be free.
 */
export async function choosePort(wanted: number, explicit: boolean, flag: string): Promise<PortChoice> {
  if (wanted === 0 || (await portIsFree(wanted))) return { port: wanted, fallback: false };
  if (explicit) throw new PortInUseError(flag, wanted);
  return { port: 0, fallback: true };
}
