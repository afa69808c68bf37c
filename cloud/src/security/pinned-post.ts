import { request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { isPublicAddress, NonPublicTargetError, type Resolve, webhookLookup } from "./webhook-target.js";

/**
 * One POST with node:http(s) rather than fetch: only they take a `lookup`, which is what pins the connection to the
 * address that was checked (fetch would need undici's dispatcher). Unless `allowPrivate`, only public addresses are
 * reached (see security/webhook-target.ts). Answers the status once the answer's body is drained, unkept. No
 * redirect is followed (a 3xx is a failure like any non-2xx), and `signal` bounds the whole exchange.
 */
export function pinnedPost(
  url: URL,
  headers: OutgoingHttpHeaders,
  body: string,
  signal: AbortSignal,
  resolve: Resolve,
  allowPrivate: boolean,
): Promise<number> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  // Node does not call `lookup` for a literal address: checked here instead.
  if (!allowPrivate && isIP(host) !== 0 && !isPublicAddress(host))
    return Promise.reject(new NonPublicTargetError(host));
  return new Promise((done, fail) => {
    let status: number | undefined;
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      {
        method: "POST",
        hostname: host,
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
        // A connection of its own per delivery: a pooled socket could outlive the check that pinned it, or be shared
        // by two clouds in one process with different settings; and none lingers once the cloud closes.
        agent: false,
        signal,
        lookup: webhookLookup(resolve, allowPrivate),
      },
      (response) => {
        status = response.statusCode ?? 0;
        response.on("error", () => {});
        response.on("close", () => done(status!));
        response.resume();
      },
    );
    // Once the status is known, a body cut short (timeout, reset) does not change the outcome.
    request.on("error", (err) => (status === undefined ? fail(err) : done(status)));
    request.end(body);
  });
}
