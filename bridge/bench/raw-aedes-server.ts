import { type AddressInfo, createServer } from "node:net";

/**
 * A bare aedes broker (in-memory persistence, no hooks) in its own process, for the raw QoS 1 baseline: it answers
 * its port over IPC and runs until killed.
 */
const { Aedes } = await import("aedes");
const broker = await Aedes.createBroker({ maxClientsIdLength: 128 });
const server = createServer({ noDelay: true }, broker.handle);
server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as AddressInfo).port }));
