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

/** A port free right now (the OS picks it). */
export function freePort(host = "127.0.0.1"): Promise<number> {
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
