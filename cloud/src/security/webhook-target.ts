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
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  // ::/96 rather than just ::/128 and ::1/128: it also holds the deprecated IPv4-compatible addresses (::127.0.0.1),
  // none of them public.
  ["::", 96],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
  ["2001:db8::", 32],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, "ipv6");
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

/**
 * The IPv4 address an IPv6 one stands for, if it is IPv4-mapped (::ffff:0:0/96, which the OS connects to over IPv4)
 * or in the well-known NAT64 prefix (64:ff9b::/96, which a NAT64 gateway would forward to that IPv4 address).
 */
function embeddedIPv4(words: number[]): string | undefined {
  const mapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
  const nat64 = words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0);
  if (!mapped && !nat64) return undefined;
  const [hi = 0, lo = 0] = words.slice(6);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** Whether an IP address (v4 or v6, with or without brackets or a zone) may receive webhooks. */
export function isPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const family = isIP(bare);
  if (family === 4) return !NON_PUBLIC.check(bare, "ipv4");
  if (family !== 6) return false;
  const v4 = embeddedIPv4(ipv6Words(bare));
  if (v4 !== undefined) return !NON_PUBLIC.check(v4, "ipv4");
  return !NON_PUBLIC.check(bare, "ipv6");
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
