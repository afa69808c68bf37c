import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { closeHttpServer, readRequestBody } from "@latchkey/runtime";
import { afterEach } from "vitest";

/** One request a receiver got: its headers and its whole body. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP server on 127.0.0.1 standing in for an integrator's webhook endpoint or an SMS gateway. */
export interface Receiver {
  port: number;
  /** `http://127.0.0.1:<port>/hook`. */
  url: string;
  /** Every request so far, in order. */
  got: Received[];
  /** Stops listening now (a target that went away); the test's end closes it otherwise. */
  close(): Promise<void>;
}

/**
 * Receivers for the tests of one file, every one closed after each test (its keep-alive connections too, so a test
 * never waits on a socket the cloud left open). `answer` scripts the reply to the `n`th request (204 by default).
 */
export function receiversEach(): (answer?: (res: ServerResponse, n: number) => void) => Promise<Receiver> {
  const servers: Server[] = [];
  const close = async (server: Server) => {
    const at = servers.indexOf(server);
    if (at < 0) return;
    servers.splice(at, 1);
    await closeHttpServer(server);
  };
  afterEach(async () => {
    for (const s of [...servers]) await close(s);
  });
  return async (answer = (res) => res.writeHead(204).end()) => {
    const got: Received[] = [];
    const server = createServer((req, res) => {
      void readRequestBody(req).then((body) => {
        got.push({ headers: req.headers, body });
        answer(res, got.length);
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    return { port, url: `http://127.0.0.1:${port}/hook`, got, close: () => close(server) };
  };
}
