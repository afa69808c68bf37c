import { createRequire } from "node:module";
import { createServer, type Server } from "node:net";
import type { Aedes } from "aedes";
import type { AedesMemoryPersistence } from "aedes-persistence";

// aedes-persistence is CommonJS whose typings declare an ESM default export; require() gets the factory itself.
const memoryPersistence = createRequire(import.meta.url)("aedes-persistence") as () => AedesMemoryPersistence;

/**
 * A stand-alone MQTT broker (aedes) for tests that need one outside the bridge: the "external broker" of a bridge, or
 * a broker where the test speaks as the bridge to a lock. Its persistence outlives `restart()`, like a broker that
 * keeps sessions and queued messages on disk. No logins: it stands for a broker whose ACL is not under test.
 */
export class TestBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private readonly persistence = memoryPersistence();
  private port = 0;

  async start(port = 0): Promise<string> {
    const { Aedes } = await import("aedes");
    const aedes = await Aedes.createBroker({ persistence: this.persistence as never });
    const server = createServer(aedes.handle);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.aedes = aedes;
    this.server = server;
    const address = server.address();
    this.port = typeof address === "object" && address ? address.port : port;
    return this.url;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Every client cut, the listener closed; sessions and queued messages kept for the next start. */
  async stop(): Promise<void> {
    const aedes = this.aedes;
    const server = this.server;
    this.aedes = null;
    this.server = null;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Down and up again on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start(this.port);
  }
}
