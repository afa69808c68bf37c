import { promises as dns } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

/**
 * Where the cloud may POST webhooks. An integrator picks the URL, so without a check the cloud would POST to its own
 * network on their behalf (SSRF): its loopback, the private LAN, a cloud metadata endpoint (169.254.169.254). Two
 * checks: the URL when the webhook is created (a literal address or `localhost` is refused at once, with a reason),
 * and every connection the delivery worker makes (the name is resolved and refused when any address is non-public;
 * the socket then connects to the address that was checked, so a DNS answer that changes between check and connect,
 * "DNS rebinding", gains nothing). The cloud setting `allowPrivateWebhookTargets` turns both off.
 */

/** Not reachable on the public internet, or not meant to be: RFC 6890 special-purpose and multicast ranges. */
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["192.88.99.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, "ipv4");
}
/**
 * Inside global unicast (2000::/3, the only IPv6 space routed on the internet), the ranges that are not public either:
 * the rest of the IETF protocol assignments (RFC 6890: not globally reachable; Teredo, inside it, is checked on its
 * own below) and the documentation prefixes (RFC 3849, RFC 9637).
 */
const NON_PUBLIC_UNICAST = new BlockList();
for (const [network, prefix] of [
  ["2001::", 23],
  ["2001:db8::", 32],
  ["3fff::", 20],
] as const) {
  NON_PUBLIC_UNICAST.addSubnet(network, prefix, "ipv6");
}

/** The 8 16-bit words of a valid IPv6 address (without zone), a trailing dotted IPv4 part included. */
function ipv6Words(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const words = (part: string) => (part === "" ? [] : part.split(":").map((w) => Number.parseInt(w, 16)));
  const [head = "", tail] = text.split("::");
  const h = words(head);
  const t = tail === undefined ? [] : words(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** The IPv4 address two 16-bit words spell. */
function ipv4Of(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

const isPublicIPv4 = (address: string) => !NON_PUBLIC.check(address, "ipv4");

/**
 * Whether an IPv6 address is public, its IPv4 embeddings included (review 12.10). A range that carries an IPv4
 * address is judged by that address, since that is where the packets end up; a range whose embedding cannot be read
 * is refused whole (reject by default):
 * - IPv4-mapped `::ffff:0:0/96`: the OS connects over IPv4 to the address inside. Checked.
 * - NAT64 well-known `64:ff9b::/96` (RFC 6052): a NAT64 gateway forwards to the address inside. Checked.
 * - NAT64 local-use `64:ff9b:1::/48` (RFC 8215): the operator picks the prefix length and so where the IPv4 address
 *   sits, and it is local by definition. Refused whole.
 * - 6to4 `2002::/16` (RFC 3056): the IPv4 address in bits 16-47 is the tunnel end point. Checked.
 * - Teredo `2001::/32` (RFC 4380): the server's IPv4 address in bits 32-63, the client's (bit-inverted) in the last
 *   32. Both checked.
 * - ISATAP interface ids (`…:0:5efe:V4`, `…:200:5efe:V4`, u/g bits either way; RFC 5214) under any prefix: the site's
 *   ISATAP router tunnels to the IPv4 address, usually a private one. Checked, so a private one is refused.
 * - IPv4-compatible `::/96` (deprecated by RFC 4291) and IPv4-translated `::ffff:0:0:0/96` (SIIT, RFC 2765): not
 *   routed on the internet, whatever is inside. Refused whole, as is all else outside 2000::/3 (unique-local,
 *   link-local, multicast, deprecated site-local, discard-only 100::/64, SRv6 5f00::/16, unassigned space).
 */
function isPublicIPv6(w: number[]): boolean {
  const [w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0] = w;
  const zeroUpTo = (n: number) => w.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(5) && w5 === 0xffff) return isPublicIPv4(ipv4Of(w6, w7));
  if (w0 === 0x64 && w1 === 0xff9b && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0) {
    return isPublicIPv4(ipv4Of(w6, w7));
  }
  if ((w0 & 0xe000) !== 0x2000) return false;
  if (w0 === 0x2002) return isPublicIPv4(ipv4Of(w1, w2));
  if (w0 === 0x2001 && w1 === 0) {
    return isPublicIPv4(ipv4Of(w2, w3)) && isPublicIPv4(ipv4Of(~w6 & 0xffff, ~w7 & 0xffff));
  }
  if ((w4 & 0xfcff) === 0 && w5 === 0x5efe && !isPublicIPv4(ipv4Of(w6, w7))) return false;
  return !NON_PUBLIC_UNICAST.check(w.map((x) => x.toString(16)).join(":"), "ipv6");
}

/** Whether an IP address (v4 or v6, with or without brackets or a zone) may receive webhooks. */
export function isPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const family = isIP(bare);
  if (family === 4) return isPublicIPv4(bare);
  if (family !== 6) return false;
  return isPublicIPv6(ipv6Words(bare));
}

/** `localhost` and `*.localhost` name the local machine by definition (RFC 6761), whatever DNS says. */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}

/**
 * Why a webhook URL is refused at creation, or undefined if it is not. Always: http(s) only, no `user:password@`
 * (the cloud would send it to whoever the URL names; the signature is what authenticates a delivery). Unless
 * `allowPrivate`: no literal non-public address and no `localhost`. A public name is resolved only when delivering: the
 * answer may change, and a request should not wait on DNS.
 */
export function webhookUrlProblem(text: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http or https URL";
  if (url.username !== "" || url.password !== "") return "must not carry a user name or password";
  if (allowPrivate) return undefined;
  // WHATWG URL has already normalised the host: 2130706433, 0x7f.1 and 0177.0.0.1 are all 127.0.0.1 here.
  const host = url.hostname;
  if (isLocalhostName(host)) return `must not point at the cloud's own network (${host} is this machine)`;
  if (isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0 && !isPublicAddress(host)) {
    return `must not point at the cloud's own network (${host} is not a public address)`;
  }
  return undefined;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a name resolves to. Injected in tests so a name can map to loopback without DNS. */
export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolve: Resolve = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** A delivery target that resolved to (or is) a non-public address. */
export class NonPublicTargetError extends Error {
  readonly code = "ERR_NON_PUBLIC_ADDRESS";
  constructor(readonly host: string) {
    super(`${host} resolves to a non-public address`);
    this.name = "NonPublicTargetError";
  }
}

/**
 * A `lookup` for node:http/https `request`: resolves the name with `resolve` and fails with NonPublicTargetError when
 * ANY address is non-public (not just the first: the socket may try them in turn), unless `allowPrivate`. Node only
 * calls it for names; a literal address must be checked by the caller.
 */
export function webhookLookup(resolve: Resolve = systemResolve, allowPrivate = false): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        const family = options.family;
        const wanted = family === 4 || family === "IPv4" ? 4 : family === 6 || family === "IPv6" ? 6 : undefined;
        const addresses = found.filter((a) => wanted === undefined || a.family === wanted);
        if (!allowPrivate && found.some((a) => !isPublicAddress(a.address))) {
          callback(new NonPublicTargetError(hostname), "", 0);
        } else if (addresses.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          err.code = "ENOTFOUND";
          callback(err, "", 0);
        } else if (options.all) {
          callback(null, addresses);
        } else {
          callback(null, addresses[0]!.address, addresses[0]!.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, "", 0),
    );
  };
}
