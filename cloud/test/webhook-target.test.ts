import { request } from "node:http";
import type { LookupFunction } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import {
  isPublicAddress,
  NonPublicTargetError,
  type Resolve,
  type ResolvedAddress,
  webhookLookup,
  webhookUrlProblem,
} from "../src/security/webhook-target.js";
import { cleanEnv, cleanUpBins, integratorToken, listeningUrl, run, tempDir } from "./bin.js";
import {
  bridgeWithConnection,
  closeAll,
  lh,
  startTestCloud,
  type Tenant,
  type TestCloud,
  tenant,
  until,
} from "./helpers.js";
import { claimedLock, eventReport, sendReports } from "./lock.js";
import { SUITE_ON_POSTGRES } from "./postgres.js";
import { receiversEach } from "./receiver.js";

/** Webhook SSRF: which targets the cloud refuses, at creation and at each delivery (security/webhook-target.ts). */

const NON_PUBLIC = [
  ...["0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255", "127.0.0.1"],
  ...["127.255.255.254", "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1"],
  ...["192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1", "192.88.99.1"],
  ...["239.255.255.250", "240.0.0.1", "255.255.255.255"],
  ...["::", "::1", "[::1]", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "febf::1", "ff02::1"],
  ...["2001:db8::1", "2001:db8:ffff::1"],
  // IPv4-mapped, checked as their IPv4 address, in every spelling; IPv4-compatible; NAT64 of loopback
  ...["::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:a9fe:a9fe", "::ffff:10.0.0.1", "::ffff:192.168.0.1"],
  ...["0:0:0:0:0:ffff:7f00::", "::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::10.1.2.3"],
  // not an address at all
  ...["", "localhost", "example.com", "1.2.3", "::ffff:999.0.0.1"],
];

// Public, many of them just outside a refused range.
const PUBLIC = [
  ...["1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255"],
  ...["128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.1", "192.0.3.1"],
  ...["192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "198.51.99.1", "198.51.101.1"],
  ...["203.0.112.1", "203.0.114.1", "223.255.255.255"],
  ...["2606:4700:4700::1111", "[2606:4700:4700::1111]", "2001:db9::1", "2001:4860::8888"],
  ...["::ffff:8.8.8.8", "::ffff:808:808", "64:ff9b::808:808"],
];

/**
 * review 12.10: IPv6 ranges that carry an IPv4 address (or need a gateway the cloud cannot vet). Each is refused when
 * the IPv4 address inside is non-public, or as a whole where the embedding cannot be checked.
 */
const EMBEDDED_NON_PUBLIC = [
  // 6to4 (2002:V4ADDR::/48): the OS or a relay unwraps it to the IPv4 address in words 1-2
  ...["2002:7f00:1::1", "2002:7f00:0001::", "2002:a00:1::1", "2002:c0a8:101::1", "2002:a9fe:a9fe::1", "2002::1"],
  ...["2002:6440:1::1", "2002:e000:1::", "2002:c000:201::1"],
  // NAT64 well-known prefix, every non-public IPv4 inside
  ...["64:ff9b::a9fe:a9fe", "64:ff9b::192.168.1.1", "64:ff9b::0.0.0.0", "64:ff9b::100.64.0.1"],
  // NAT64 local-use (RFC 8215): the operator picks where the IPv4 sits, so nothing in it can be checked
  ...["64:ff9b:1::8.8.8.8", "64:ff9b:1::808:808", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"],
  // Teredo (2001:0::/32): server IPv4 in words 2-3, the client's (bit-inverted) in words 6-7
  ...["2001:0:7f00:1::808:808", "2001:0:a00:1::f7f7:f7f7", "2001:0:808:808::80ff:fffe", "2001:0:808:808::f5ff:fffe"],
  ...["2001::1"],
  // the rest of the IETF protocol assignments (RFC 6890: not globally reachable)
  ...["2001:2::1", "2001:10::1", "2001:1ff:ffff::1"],
  // IPv4-translated (SIIT, ::ffff:0:a.b.c.d) and IPv4-compatible: not routable on the internet, whatever is inside
  ...["::ffff:0:8.8.8.8", "::ffff:0:808:808", "::ffff:0:7f00:1", "::8.8.8.8", "::808:808"],
  // ISATAP interface ids (::0:5efe:V4, ::200:5efe:V4) with a non-public IPv4: a site's ISATAP router would tunnel there
  ...[
    "2606:4700::5efe:a00:1",
    "2606:4700::200:5efe:7f00:1",
    "2606:4700::100:5efe:c0a8:101",
    "2606:4700::300:5efe:a9fe:a9fe",
  ],
  // outside global unicast (2000::/3): reserved, discard-only, deprecated site-local, SRv6 SIDs, documentation
  ...["100::1", "fec0::1", "fbff::1", "4000::1", "5f00::1", "1fff:ffff::1", "3fff::1", "3fff:fff::1"],
];

const EMBEDDED_PUBLIC = [
  ...["2002:808:808::1", "2002:101:101:1::1", "64:ff9b::8.8.8.8", "64:ff9b::101:101"],
  // Teredo with a public server (8.8.8.8) and a public client (inverted f7f7:f7f7 is 8.8.8.8)
  ...["2001:0:808:808::f7f7:f7f7", "2001:0:101:101:8000:ffff:fefe:fefe"],
  ...["2606:4700::5efe:808:808", "2606:4700::200:5efe:101:101", "2001:4860:4860::8888", "2c0f:fb50::1"],
  ...["3ffe:ffff::1", "2001:200::1", "2400:cb00::1"],
];

describe("isPublicAddress", () => {
  it.each(NON_PUBLIC)("refuses %s", (address) => expect(isPublicAddress(address)).toBe(false));
  it.each(PUBLIC)("allows %s", (address) => expect(isPublicAddress(address)).toBe(true));
  it.each(EMBEDDED_NON_PUBLIC)("refuses %s (an IPv4 embedding that is non-public or cannot be checked)", (address) => {
    expect(isPublicAddress(address)).toBe(false);
    expect(webhookUrlProblem(`http://[${address}]/hook`, false)).toMatch(/own network/);
  });
  it.each(EMBEDDED_PUBLIC)("allows %s (its embedded IPv4 is public)", (address) =>
    expect(isPublicAddress(address)).toBe(true),
  );
});

// Spellings WHATWG URL turns into the address it means, so the check sees the address, not the spelling.
const NORMALISED: Array<[string, string]> = [
  ["http://2130706433/", "127.0.0.1"],
  ["http://0x7f.1/", "127.0.0.1"],
  ["http://0177.0.0.1/", "127.0.0.1"],
  ["http://127.1/", "127.0.0.1"],
  ["http://0x7f000001/", "127.0.0.1"],
  ["http://127.0.0.1./", "127.0.0.1"],
  ["http://0/", "0.0.0.0"],
  ["http://2852039166/", "169.254.169.254"],
  ["http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"],
  ["http://012.1/", "10.0.0.1"],
  ["http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"],
  ["http://[0:0:0:0:0:0:0:1]/", "[::1]"],
  ["http://%31%32%37.0.0.1/", "127.0.0.1"],
];

const REFUSED_PRIVATE = [
  ...NORMALISED.map(([url]) => url),
  ...["http://127.0.0.1:8080/hook", "https://10.1.2.3/hook", "http://172.20.0.5/", "http://192.168.0.10:3000/x"],
  ...["http://169.254.169.254/latest/meta-data/", "http://100.100.100.200/", "http://[::1]:9/hook"],
  ...["http://[fd00::1]/", "http://[fe80::1]/", "http://[ff02::1]/", "http://[::]/", "http://[2001:db8::1]/"],
  ...["http://[::ffff:10.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://[64:ff9b::7f00:1]/"],
  ...["http://localhost/", "http://localhost:8080/hook", "http://LOCALHOST./", "http://api.localhost/"],
  ...["http://a.b.localhost./", "http://%6c%6fcalhost/"],
];

const REFUSED_ALWAYS = [
  ...["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "ws://example.com/", "not a url"],
  ...["http://user:pw@example.com/", "http://user@example.com/", "https://:pw@example.com/"],
];

const ACCEPTED = [
  ...["https://example.com/hook", "http://8.8.8.8/hook", "https://[2606:4700:4700::1111]/h", "http://evil.example/"],
  // names that merely look local are resolved (and checked) when delivering
  ...["http://localhost.example.com/", "http://127.0.0.1.nip.io/", "https://hooks.internal:8443/x"],
];

describe("webhookUrlProblem (creation-time check)", () => {
  it.each(NORMALISED)("WHATWG URL normalises %s to %s", (url, host) => expect(new URL(url).hostname).toBe(host));

  it.each(REFUSED_PRIVATE)("refuses %s unless private targets are allowed", (url) => {
    expect(webhookUrlProblem(url, false)).toMatch(/own network/);
    expect(webhookUrlProblem(url, true)).toBeUndefined();
  });

  it.each(REFUSED_ALWAYS)("refuses %s whatever the setting", (url) => {
    expect(webhookUrlProblem(url, false)).toBeDefined();
    expect(webhookUrlProblem(url, true)).toBeDefined();
  });

  it.each(ACCEPTED)("accepts %s", (url) => expect(webhookUrlProblem(url, false)).toBeUndefined());
});

/** A resolver from a table; names not in it fail as DNS would. Counts the lookups. */
function fakeResolve(table: Record<string, ResolvedAddress[]>): Resolve & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const found = table[hostname];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return found;
  };
  return Object.assign(resolve, { calls });
}

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

function callLookup(
  lookup: LookupFunction,
  host: string,
  options: { all?: boolean; family?: number },
): Promise<{ err: Error | null; address: unknown; family?: number }> {
  return new Promise((resolve) => lookup(host, options, (err, address, family) => resolve({ err, address, family })));
}

describe("webhookLookup", () => {
  const resolve = fakeResolve({
    "public.example": [v4("93.184.216.34"), v6("2606:2800:220:1:248:1893:25c8:1946")],
    "loopback.example": [v4("127.0.0.1")],
    "mixed.example": [v4("93.184.216.34"), v4("10.0.0.7")],
    "mixed6.example": [v4("93.184.216.34"), v6("::ffff:169.254.169.254")],
    "sixtofour.example": [v4("93.184.216.34"), v6("2002:7f00:1::1")],
    "teredo.example": [v6("2001:0:808:808::80ff:fffe")],
  });

  it("answers every address of a public name, or the first of the wanted family", async () => {
    const lookup = webhookLookup(resolve);
    expect(await callLookup(lookup, "public.example", { all: true })).toMatchObject({
      err: null,
      address: [v4("93.184.216.34"), v6("2606:2800:220:1:248:1893:25c8:1946")],
    });
    expect(await callLookup(lookup, "public.example", {})).toMatchObject({ address: "93.184.216.34", family: 4 });
    expect(await callLookup(lookup, "public.example", { family: 6 })).toMatchObject({
      address: "2606:2800:220:1:248:1893:25c8:1946",
      family: 6,
    });
  });

  it.each(["loopback.example", "mixed.example", "mixed6.example", "sixtofour.example", "teredo.example"])(
    "refuses %s: ANY non-public address refuses the name",
    async (host) => {
      for (const options of [{ all: true }, {}, { family: 4 }]) {
        const { err } = await callLookup(webhookLookup(resolve), host, options);
        expect(err).toBeInstanceOf(NonPublicTargetError);
        expect(err!.message).toBe(`${host} resolves to a non-public address`);
      }
      expect((await callLookup(webhookLookup(resolve, true), host, { all: true })).err).toBeNull();
    },
  );

  it("passes DNS failures on, and fails a name without an address of the wanted family", async () => {
    expect((await callLookup(webhookLookup(resolve), "nowhere.example", {})).err).toMatchObject({ code: "ENOTFOUND" });
    const only4 = fakeResolve({ "four.example": [v4("93.184.216.34")] });
    expect((await callLookup(webhookLookup(only4), "four.example", { family: 6 })).err).toMatchObject({
      code: "ENOTFOUND",
    });
  });
});

const receiver = receiversEach();

afterEach(async () => {
  await closeAll();
  await cleanUpBins();
});

describe("the lookup pins node:http to the checked address", () => {
  it("a name resolving to loopback never connects; allowed, it reaches the address the resolver gave", async () => {
    const rx = await receiver();
    const resolve = fakeResolve({ "evil.example": [v4("127.0.0.1")] });
    const post = (lookup: LookupFunction) =>
      new Promise<number>((done, fail) => {
        const req = request({ hostname: "evil.example", port: rx.port, path: "/hook", method: "POST", lookup });
        req.on("response", (res) => {
          res.resume();
          done(res.statusCode!);
        });
        req.on("error", fail);
        req.end("{}");
      });
    await expect(post(webhookLookup(resolve))).rejects.toBeInstanceOf(NonPublicTargetError);
    expect(rx.got).toHaveLength(0);
    // evil.example has no DNS entry: the request got there only through the resolver's answer.
    expect(await post(webhookLookup(resolve, true))).toBe(204);
    expect(rx.got).toHaveLength(1);
    expect(resolve.calls).toEqual(["evil.example", "evil.example"]);
  });
});

const created = (t: TestCloud, tn: Tenant, url: string) =>
  t.call("POST", lh(tn, "/webhooks"), { token: tn.token, body: { url } });

describe("creating a webhook through the API", () => {
  it("with the setting off: every private target is a 400 naming body.url and why; public ones are created", async () => {
    const t = await startTestCloud({ settings: { allowPrivateWebhookTargets: false } });
    const tn = await tenant(t);
    let refused = 0;
    for (const url of [...REFUSED_PRIVATE, ...REFUSED_ALWAYS]) {
      const res = await created(t, tn, url);
      expect(res.status, url).toBe(400);
      expect(res.body.error, url).toBe("invalid_request");
      expect(res.body.errorDescription, url).toMatch(/^body\.url: /);
      refused++;
    }
    expect((await created(t, tn, "http://169.254.169.254/latest/meta-data/")).body.errorDescription).toBe(
      "body.url: must not point at the cloud's own network (169.254.169.254 is not a public address)",
    );
    expect((await created(t, tn, "http://2130706433/")).body.errorDescription).toBe(
      "body.url: must not point at the cloud's own network (127.0.0.1 is not a public address)",
    );
    expect((await created(t, tn, "http://api.localhost/")).body.errorDescription).toBe(
      "body.url: must not point at the cloud's own network (api.localhost is this machine)",
    );
    expect((await created(t, tn, "http://u:p@example.com/")).body.errorDescription).toBe(
      "body.url: must not carry a user name or password",
    );
    for (const url of ACCEPTED) expect((await created(t, tn, url)).status, url).toBe(201);
    const list = await t.call("GET", lh(tn, "/webhooks"), { token: tn.token });
    expect(list.body.webhooks.map((w: { url: string }) => w.url).sort()).toEqual([...ACCEPTED].sort());
    expect(refused).toBe(REFUSED_PRIVATE.length + REFUSED_ALWAYS.length);
  });

  it("with the setting on: private targets are created, credentials and other schemes still refused", async () => {
    const t = await startTestCloud({ settings: { allowPrivateWebhookTargets: true } });
    const tn = await tenant(t);
    for (const url of REFUSED_PRIVATE) expect((await created(t, tn, url)).status, url).toBe(201);
    for (const url of REFUSED_ALWAYS) expect((await created(t, tn, url)).status, url).toBe(400);
  });
});

/** One key event a claimed lock reports through its bridge: it queues a delivery to every webhook of the lock holder. */
async function keyEvent(t: TestCloud, tn: Tenant, n: number): Promise<void> {
  const br = await bridgeWithConnection(t, tn, `site-${n}`, `pw-${n}`);
  const lock = await claimedLock(t, tn, br, `sim-${n}`);
  await sendReports(t, br, lock, [eventReport(lock, 1)]);
}

async function deliveryOf(t: TestCloud, tn: Tenant, hookId: string, what: string, ok: (d: Delivery) => boolean) {
  return until(what, async () => {
    const d = (await t.call("GET", lh(tn, `/webhooks/${hookId}/deliveries`), { token: tn.token })).body.deliveries[0] as
      | Delivery
      | undefined;
    return d && ok(d) && d;
  });
}

interface Delivery {
  status: string;
  attempts: number;
  lastError: string | null;
  nextAttempt: string | null;
}

describe("delivering", () => {
  it("with the setting off: a name resolving to loopback is refused at each attempt, and retried", async () => {
    const rx = await receiver();
    const resolve = fakeResolve({
      "evil.example": [v4("127.0.0.1")],
      "rebind.example": [v4("93.184.216.34"), v6("::ffff:127.0.0.1")],
    });
    const t = await startTestCloud({ settings: { allowPrivateWebhookTargets: false }, webhookResolve: resolve });
    const tn = await tenant(t);
    const evil = await created(t, tn, `http://evil.example:${rx.port}/hook`);
    const rebind = await created(t, tn, `http://rebind.example:${rx.port}/hook`);
    expect([evil.status, rebind.status]).toEqual([201, 201]);
    await keyEvent(t, tn, 1);
    for (const [hook, host] of [
      [evil, "evil.example"],
      [rebind, "rebind.example"],
    ] as const) {
      const first = await deliveryOf(t, tn, hook.body.id, `${host} attempt 1`, (d) => d.attempts === 1);
      expect(first).toMatchObject({
        status: "pending",
        lastError: `refused: ${host} resolves to a non-public address`,
      });
      expect(first.nextAttempt).not.toBeNull();
    }
    t.clock.advance(60_001);
    for (const hook of [evil, rebind]) {
      const second = await deliveryOf(t, tn, hook.body.id, "attempt 2", (d) => d.attempts === 2);
      expect(second.lastError).toMatch(/^refused: /);
    }
    // Every attempt resolved (and was refused) again; nothing reached the receiver.
    expect(resolve.calls.filter((h) => h === "evil.example")).toHaveLength(2);
    expect(rx.got).toHaveLength(0);
  });

  it("a literal private address kept from when the setting was on fails at once when it is off", async () => {
    const rx = await receiver();
    // Two clouds on one store, as before and after a restart that turned the setting off (both stay open: a test
    // cloud on PostgreSQL drops its schema when it closes).
    const dataDir = tempDir();
    const on = await startTestCloud({
      dataDir,
      seed: "on",
      workers: false,
      settings: { allowPrivateWebhookTargets: true },
    });
    const tn = await tenant(on);
    const hook = await created(on, tn, rx.url);
    expect(hook.status).toBe(201);
    const off = await startTestCloud({ dataDir, seed: "off", settings: { allowPrivateWebhookTargets: false } });
    await keyEvent(off, tn, 2);
    const d = await deliveryOf(off, tn, hook.body.id, "the refusal", (x) => x.attempts === 1);
    expect(d).toMatchObject({
      status: "failed",
      nextAttempt: null,
      lastError: "refused: 127.0.0.1 resolves to a non-public address",
    });
    expect(rx.got).toHaveLength(0);
  });

  it("with the setting on: a 127.0.0.1 receiver, by address or by name, gets a signed delivery", async () => {
    const rx = await receiver();
    const resolve = fakeResolve({ "hooks.internal": [v4("127.0.0.1")] });
    const t = await startTestCloud({ settings: { allowPrivateWebhookTargets: true }, webhookResolve: resolve });
    const tn = await tenant(t);
    const byAddress = await created(t, tn, rx.url);
    const byName = await created(t, tn, `http://hooks.internal:${rx.port}/hook`);
    await keyEvent(t, tn, 3);
    for (const hook of [byAddress, byName]) {
      await deliveryOf(t, tn, hook.body.id, "delivered", (d) => d.status === "delivered");
    }
    expect(rx.got).toHaveLength(2);
    const verified = [byAddress, byName].map((hook) => {
      const got = rx.got.find((g) => {
        try {
          new Webhook(hook.body.secret).verify(g.body, g.headers as Record<string, string>);
          return true;
        } catch {
          return false;
        }
      });
      return got?.headers["user-agent"];
    });
    expect(verified).toEqual(["latchkey-cloud-webhooks", "latchkey-cloud-webhooks"]);
    expect(rx.got.map((g) => g.headers["content-type"])).toEqual(["application/json", "application/json"]);
    expect(resolve.calls).toContain("hooks.internal");
  });

  it("no redirect is followed; a stalled answer times out; a stalled body after a 2xx still counts", async () => {
    const target = await receiver();
    const redirect = await receiver((res) => res.writeHead(302, { location: target.url }).end());
    const silent = await receiver(() => {});
    const stalledBody = await receiver((res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
    });
    const t = await startTestCloud({
      settings: { allowPrivateWebhookTargets: true },
      webhookRetry: { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5, timeoutMs: 300 },
    });
    const tn = await tenant(t);
    const hooks = await Promise.all([redirect, silent, stalledBody].map((r) => created(t, tn, r.url)));
    await keyEvent(t, tn, 4);
    const [r, s, b] = hooks.map((h) => h.body.id as string) as [string, string, string];
    expect(await deliveryOf(t, tn, r, "the 302", (d) => d.attempts === 1)).toMatchObject({ lastError: "HTTP 302" });
    expect(await deliveryOf(t, tn, s, "the timeout", (d) => d.attempts === 1)).toMatchObject({
      status: "pending",
      lastError: "timed out",
    });
    await deliveryOf(t, tn, b, "delivered despite the body", (d) => d.status === "delivered");
    expect(target.got).toHaveLength(0);
  });

  it("a closed port: `connection failed: …` and a retry", async () => {
    const rx = await receiver();
    const port = rx.port;
    // Nothing listens there any more.
    await rx.close();
    const t = await startTestCloud({ settings: { allowPrivateWebhookTargets: true } });
    const tn = await tenant(t);
    const hook = await created(t, tn, `http://127.0.0.1:${port}/hook`);
    await keyEvent(t, tn, 5);
    const d = await deliveryOf(t, tn, hook.body.id, "the failure", (x) => x.attempts === 1);
    expect(d).toMatchObject({
      status: "pending",
      lastError: `connection failed: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });
});

describe("latchkey-cloud serve: --allow-private-webhooks and LATCHKEY_ALLOW_PRIVATE_WEBHOOKS", () => {
  it("off by default; the flag or the variable set to 1 turns it on; another value is a usage error", async (ctx) => {
    // Six cloud processes on SQLite whatever the project: the same test again under cloud-postgres would prove nothing.
    if (SUITE_ON_POSTGRES) return ctx.skip("runs its cloud processes on SQLite: the cloud project runs it");
    const data = tempDir();
    const boot = run(["bootstrap", "--data", data, "--json"]);
    expect(await boot.exit, boot.stderr()).toBe(0);
    const creds = JSON.parse(boot.stdout()) as { clientId: string; clientSecret: string };
    const statusWith = async (args: string[], env: Record<string, string>) => {
      const server = run(["serve", "--port", "0", "--data", data, "--log-level", "warn", ...args], cleanEnv(env));
      const url = await listeningUrl(server);
      const headers = {
        authorization: `Bearer ${await integratorToken(url, creds)}`,
        "content-type": "application/json",
      };
      const holder = await fetch(`${url}/integrators/v1/lock-holders`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name: "CLI" }),
      }).then((r) => r.json() as Promise<{ id: string }>);
      const res = await fetch(`${url}/integrators/v1/lock-holders/${holder.id}/webhooks`, {
        method: "POST",
        headers,
        body: JSON.stringify({ url: "http://127.0.0.1:9/hook" }),
      });
      server.child.kill("SIGTERM");
      expect(await server.exit).toBe(0);
      return res.status;
    };
    expect(await statusWith([], {})).toBe(400);
    expect(await statusWith([], { LATCHKEY_ALLOW_PRIVATE_WEBHOOKS: "0" })).toBe(400);
    expect(await statusWith(["--allow-private-webhooks"], {})).toBe(201);
    expect(await statusWith([], { LATCHKEY_ALLOW_PRIVATE_WEBHOOKS: "1" })).toBe(201);
    const bad = run(["serve", "--port", "0", "--data", data], cleanEnv({ LATCHKEY_ALLOW_PRIVATE_WEBHOOKS: "yes" }));
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toContain('LATCHKEY_ALLOW_PRIVATE_WEBHOOKS: must be 1 or 0 (got "yes")');
  }, 120_000); // six cloud processes started one after another
});
