import type { Server } from "node:http";

/**
 * Closes `server` now, its idle keep-alive connections too: `close()` alone waits for every client to hang up, which
 * a test's or a stack's stop must not.
 */
export async function closeHttpServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
