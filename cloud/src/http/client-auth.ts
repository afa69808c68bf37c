import { invalid } from "../domain/errors.js";
import { ApiError } from "./errors.js";

/**
 * How an OAuth2 client authenticates at `POST /auth/v1/token` (RFC 6749 section 2.3.1): HTTP Basic, which a server
 * MUST support and which most client libraries (simple-oauth2's default) use, or `client_id` and `client_secret` in
 * the body. One method per request (section 2.3): both at once is a 400.
 */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** Sent with HTTP Basic: a refusal then answers 401 with `WWW-Authenticate: Basic` (RFC 6749 section 5.2). */
  basic: boolean;
}

const BASIC = /^basic[ \t]+([A-Za-z0-9+/]*={0,2})[ \t]*$/i;
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The refusal of unknown or missing client credentials, in the scheme the client used. */
export function invalidClient(basic: boolean, description = "unknown client or wrong secret"): ApiError {
  return new ApiError(
    401,
    "invalid_client",
    description,
    basic ? { "www-authenticate": 'Basic realm="latchkey"' } : {},
  );
}

/**
 * RFC 6749 appendix B: the id and the secret are each form-encoded before they are joined with ":" and base64'd, so
 * "+" is a space and %XX a byte of UTF-8.
 */
function formDecode(text: string, what: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    throw invalid(`authorization: the Basic ${what} is not form-encoded (RFC 6749 appendix B)`);
  }
}

function fromBasic(header: string): { clientId: string; clientSecret: string } | undefined {
  if (!/^basic(?:[ \t]|$)/i.test(header)) return undefined;
  const match = BASIC.exec(header);
  if (!match) throw invalid("authorization: Basic credentials must be base64 of client_id:client_secret");
  let decoded: string;
  try {
    decoded = STRICT_UTF8.decode(Buffer.from(match[1]!, "base64"));
  } catch {
    throw invalid("authorization: the Basic credentials are not UTF-8");
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) throw invalid("authorization: Basic credentials must be base64 of client_id:client_secret");
  const clientId = formDecode(decoded.slice(0, colon), "client_id");
  const clientSecret = formDecode(decoded.slice(colon + 1), "client_secret");
  if (clientId === "" || clientSecret === "")
    throw invalidClient(true, "the Basic client_id or client_secret is empty");
  return { clientId, clientSecret };
}

/** The credentials of a token request: from the Authorization header (Basic) or the body, never both. */
export function clientCredentials(
  authorization: string | undefined,
  body: { client_id?: string; client_secret?: string },
): ClientCredentials {
  // Another scheme (a stale Bearer token, say) is not client authentication and is ignored, as it always was.
  const basic = authorization === undefined ? undefined : fromBasic(authorization);
  const inBody = body.client_id !== undefined || body.client_secret !== undefined;
  if (basic) {
    if (inBody) {
      throw invalid(
        "client credentials were sent twice, with HTTP Basic and in the body: use one method (RFC 6749 section 2.3)",
      );
    }
    return { ...basic, basic: true };
  }
  if (body.client_id !== undefined && body.client_secret !== undefined) {
    return { clientId: body.client_id, clientSecret: body.client_secret, basic: false };
  }
  if (inBody) throw invalid(`body.${body.client_id === undefined ? "client_id" : "client_secret"}: is required`);
  throw invalidClient(
    true,
    "no client credentials: send HTTP Basic (client_id:client_secret) or client_id and client_secret in the body",
  );
}
