import { type AddressInfo, createServer } from "node:net";

/**
 * The events baseline's broker, run as a process of its own like the bridge: a bare aedes (in-memory persistence, no
 * logins, no hooks) on 127.0.0.1, any free port. Prints `{"port": n}` once listening; SIGTERM closes it.
 */
const { Aedes } = await import("aedes");
const broker = await Aedes.createBroker();
const server = createServer({ noDelay: true }, broker.handle);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.once("SIGTERM", () => {
  server.close();
  broker.close(() => process.exit(0));
});
