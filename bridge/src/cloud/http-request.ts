import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface HttpAnswer {
  status: number;
  text: string;
  headers: IncomingHttpHeaders;
}

/** How the bridge exchanges with the cloud: `httpExchange`, or (in tests) a wrapper that also checks the answers. */
export type HttpExchange = typeof httpExchange;

// Kept-alive connections, as fetch kept them: the uploader sends batch after batch to the same cloud.
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/**
 * One HTTP(S) exchange with the cloud on Node's own client instead of the global `fetch`. fetch loads undici and
 * compiles its WebAssembly HTTP parser at the first call: ~13 MB of resident memory for good and a ~30 MB transient
 * peak, on a gateway whose idle budget is 70 MB (issue 17 item 2; the figures in scripts/README). node:http parses with
 * the native llhttp the bridge's own /metrics server loads anyway. Rejects on a network failure or when `signal`
 * aborts, as fetch did; any HTTP status resolves. Unlike fetch it follows no redirect: a 3xx is the caller's error, so
 * `cloud.url` must name the API itself, and the bearer token never goes to an address the configuration did not name.
 */
export function httpExchange(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string | undefined; signal: AbortSignal },
): Promise<HttpAnswer> {
  const target = new URL(url);
  const secure = target.protocol === "https:";
  const headers: Record<string, string | number> = { ...init.headers };
  if (init.body !== undefined) headers["content-length"] = Buffer.byteLength(init.body);
  return new Promise((resolve, reject) => {
    // A response that stalls midway must end at the deadline too, not only a request still waiting for its headers.
    const onAbort = () => reject(init.signal.reason);
    init.signal.addEventListener("abort", onAbort, { once: true });
    const done = () => init.signal.removeEventListener("abort", onAbort);
    const req = (secure ? httpsRequest : httpRequest)(
      target,
      { method: init.method, headers, agent: secure ? agents.https : agents.http, signal: init.signal },
      (res: IncomingMessage) => {
        res.setEncoding("utf8");
        let text = "";
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          done();
          resolve({ status: res.statusCode ?? 0, text, headers: res.headers });
        });
        res.on("error", reject);
      },
    );
    req.on("error", (e) => {
      done();
      reject(e);
    });
    req.end(init.body);
  });
}
