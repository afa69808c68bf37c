import { createServer, type IncomingMessage, type Server } from "node:http";
import { closeHttpServer, type PollOptions, pollUntil, readRequestBody } from "@latchkey/runtime";
import { Webhook } from "standardwebhooks";

/** A delivery whose Standard Webhooks signature verified. */
export interface ReceivedWebhook {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/**
 * A webhook endpoint on 127.0.0.1 for the demo and the tests: it verifies each delivery's signature with the secret
 * the cloud gave when the webhook was created, answers 204 to good ones and 401 to forged ones (which are counted,
 * never stored).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  rejected = 0;
  private verifier: Webhook | null = null;
  private server: Server | null = null;
  url = "";

  /** Set once the webhook is created (the secret is answered then). */
  useSecret(secret: string): void {
    this.verifier = new Webhook(secret);
  }

  async listen(path = "/latchkey/webhooks"): Promise<string> {
    const server = createServer((req, res) => {
      void readRequestBody(req).then(
        (body) => {
          const result = this.accept(req, body);
          res.writeHead(result ? 204 : 401).end();
        },
        () => res.writeHead(400).end(),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    this.url = `http://127.0.0.1:${port}${path}`;
    return this.url;
  }

  private accept(req: IncomingMessage, body: string): boolean {
    if (!this.verifier) return false;
    const headers: Record<string, string> = {};
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const value = req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    try {
      const payload = this.verifier.verify(body, headers) as { type?: unknown; timestamp?: unknown; data?: unknown };
      this.received.push({
        id: headers["webhook-id"] ?? "",
        type: String(payload.type),
        timestamp: String(payload.timestamp),
        data: (payload.data ?? {}) as Record<string, unknown>,
      });
      return true;
    } catch {
      this.rejected++;
      return false;
    }
  }

  /** Waits for a verified delivery that `match` accepts. */
  waitFor(
    what: string,
    match: (delivery: ReceivedWebhook) => boolean,
    options: PollOptions = {},
  ): Promise<ReceivedWebhook> {
    return pollUntil(what, () => this.received.find(match), options);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await closeHttpServer(server);
  }
}
