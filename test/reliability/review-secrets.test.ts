import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { checkVendorCredentials, vendorCredentialDigest } from "@latchkey/protocol";
import {
  ApiError,
  bins,
  bootstrapIntegrator,
  childEnv,
  freePort,
  IntegratorClient,
  requestAccessToken,
  startCloudProcess,
} from "@latchkey/scripts";
import { describe, expect, it } from "vitest";
import { cloudDatabaseEnv } from "../src/database.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { E2eSite, VENDOR } from "../src/site.js";

/**
 * Issue 12, findings 7, 10 and 11, through the real processes: a bridge secret rotated while the real bridge runs
 * (cloud/README.md "Rotating secrets", docs/bridge-api.md), an integrator client secret rotated, webhook targets
 * that hide a non-public IPv4 address in an IPv6 one (cloud/src/security/webhook-target.ts), and the vendor-credential
 * scrypt off the event loop (protocol/src/credentials.ts).
 */
const file = new ReliabilityFile("review-secrets");
const { tally, logs, secrets } = file;

const HOUR_S = 3600;

/** Whether the cloud accepts a login with these credentials; a refusal must be 401 invalid_client. */
async function logsIn(apiUrl: string, clientId: string, clientSecret: string, scope: string): Promise<boolean> {
  try {
    await requestAccessToken(apiUrl, { clientId, clientSecret, scope });
    return true;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 401, code: "invalid_client" });
    return false;
  }
}

async function status(url: string, token: string): Promise<number> {
  return (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;
}

describe("review 12.7: secrets that can be rotated", () => {
  it("a bridge secret rotated while the real bridge runs: the old one works in the overlap, is refused once revoked, and a bridge left on it is locked out until its config is updated", async () => {
    const site = await E2eSite.start(file.resources);
    logs.attach("cloud", site.cloud!.child);
    secrets.add("integrator client secret", site.creds.clientSecret);
    secrets.add("bridge secret", site.bridgeSecret);
    await site.startBridge();
    logs.attach("bridge", site.bridge!.child);
    const { client, lockHolderId: lh, bridgeId, vendorConnectionId: vc } = site;
    await client.waitForVendorConnection(lh, vc, "connected", { timeoutMs: 60_000 });
    /** The bridge does its cloud work: it reads a refresh off the feed, reports its locks and `connected`. */
    const bridgeServes = async () => {
      await client.refreshVendorConnection(lh, vc);
      await client.waitForVendorConnection(lh, vc, "connected", { timeoutMs: 60_000, intervalMs: 50 });
    };

    // Rotation with an overlap: both secrets log in, the running bridge (old secret) is not disturbed.
    const original = site.bridgeSecret;
    const first = await client.rotateBridgeSecret(lh, bridgeId, { overlapSeconds: HOUR_S });
    secrets.add("rotated bridge secret 1", first.secret);
    expect(first.bridgeId).toBe(bridgeId);
    expect(Date.parse(first.expiresOldAt)).toBeGreaterThan(Date.now());
    expect(await logsIn(site.apiUrl, bridgeId, original, "bridge")).toBe(true);
    expect(await logsIn(site.apiUrl, bridgeId, first.secret, "bridge")).toBe(true);
    await bridgeServes();

    // The operator moves the bridge to the new secret (docs/bridge-api.md), then ends the overlap.
    await site.stopBridge();
    site.bridgeSecret = first.secret;
    await site.startBridge();
    logs.attach("bridge", site.bridge!.child);
    await client.revokePreviousBridgeSecret(lh, bridgeId);
    expect(await logsIn(site.apiUrl, bridgeId, original, "bridge")).toBe(false);
    tally.input();
    tally.refuse();
    await bridgeServes();

    // Rotated again, and revoked before the bridge was moved: its token ends with the secret, every new login is
    // refused, and it says so in its log while it keeps serving its locks offline.
    const second = await client.rotateBridgeSecret(lh, bridgeId, { overlapSeconds: HOUR_S });
    secrets.add("rotated bridge secret 2", second.secret);
    const since = site.bridge!.child.lines.length;
    await client.revokePreviousBridgeSecret(lh, bridgeId);
    await site.bridge!.child.waitForLog("change feed failed", (r) => String(r.err).includes("invalid_client"), {
      since,
      timeoutMs: 60_000,
    });
    expect(await logsIn(site.apiUrl, bridgeId, first.secret, "bridge")).toBe(false);
    tally.input(2);
    tally.refuse(2);
    tally.case("review 12.7: a revoked bridge secret no longer logs in, and the tokens issued for it end at once");

    await site.stopBridge();
    site.bridgeSecret = second.secret;
    await site.startBridge();
    logs.attach("bridge", site.bridge!.child);
    await bridgeServes();
    tally.case("review 12.7: a bridge secret rotated with an overlap keeps the running bridge working until moved");

    // The vendor-credential check (review 12.11) on the spawned cloud: a duplicate is still found (409) while the
    // cloud answers other requests; the scrypt itself no longer runs on the event loop (tests below, and protocol).
    const duplicate = client.request("POST", `/lock-holders/${lh}/vendor-connections`, {
      vendor: "sim",
      username: VENDOR.username,
      password: VENDOR.password,
      bridgeId,
    });
    const health = await fetch(`${site.apiUrl}/health`);
    expect(health.status).toBe(200);
    expect((await duplicate).status).toBe(409);
    tally.input();
    tally.refuse();
  });

  it("an integrator client secret rotated on the spawned cloud: the old one works in the overlap, and once revoked neither it nor any token issued for it is accepted", async () => {
    const site = await E2eSite.start(file.resources);
    logs.attach("cloud", site.cloud!.child);
    const { creds, apiUrl } = site;
    secrets.add("integrator client secret", creds.clientSecret);
    const lockHolders = `${apiUrl}/integrators/v1/lock-holders`;
    const own = await IntegratorClient.login(apiUrl, creds);
    const rotated = await own.rotateClientSecret(creds.integratorId, { overlapSeconds: 600 });
    secrets.add("rotated client secret", rotated.secret);
    expect(rotated.clientId).toBe(creds.clientId);

    const old = await requestAccessToken(apiUrl, creds);
    secrets.add("token issued for the old client secret", old.access_token);
    expect(old.expires_in).toBeLessThanOrEqual(600);
    expect(await status(lockHolders, old.access_token)).toBe(200);
    const scoped = await requestAccessToken(apiUrl, { ...creds, scope: `lockHolder.admin:${site.lockHolderId}` });
    secrets.add("lock-holder token issued for the old client secret", scoped.access_token);

    await own.revokePreviousClientSecret(creds.integratorId);
    expect(await logsIn(apiUrl, creds.clientId, creds.clientSecret, "integrator.admin")).toBe(false);
    expect(await status(lockHolders, old.access_token)).toBe(401);
    expect(await status(lockHolders, scoped.access_token)).toBe(401);
    tally.input(3);
    tally.refuse(3);
    // The client that rotated carries on, logging in with the new secret.
    expect((await own.listLockHolders()).lockHolders.map((l) => l.id)).toContain(site.lockHolderId);
    expect(await logsIn(apiUrl, creds.clientId, rotated.secret, "integrator.admin")).toBe(true);
    tally.case("review 12.7: a revoked integrator client secret no longer logs in, and its tokens end at once");
  });
});

describe("review 12.10: webhook targets that hide a non-public IPv4 address", () => {
  it("the spawned cloud (private targets not allowed) refuses each one with 400, and takes a public 6to4 address", async () => {
    const { resources } = file;
    const dir = resources.tempDir("latchkey-review-secrets-");
    const dataDir = join(dir, "cloud");
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const env = childEnv(process.env, cloudDatabaseEnv(resources).DATABASE_URL);
    const bin = bins().cloud;
    const creds = await bootstrapIntegrator(bin, dataDir, env, "webhook filter");
    secrets.add("integrator client secret (webhook filter)", creds.clientSecret);
    // Development one-time codes (review 12.3): this test reads no codes, but serve needs a sender to start.
    const cloud = await startCloudProcess({ bin, dataDir, port: await freePort(), env, devOtpLog: true });
    resources.defer("stop the cloud", () => cloud.child.stop());
    logs.attach("cloud", cloud.child);
    const client = await IntegratorClient.login(cloud.url, creds);
    const lh = await client.createLockHolder({ name: "Webhook filter homes" });
    const hooks = `/lock-holders/${lh.id}/webhooks`;

    const refused = [
      "http://[2002:7f00:1::1]/hook", // 6to4 of 127.0.0.1
      "http://[2002:a9fe:a9fe::]/latest/meta-data/", // 6to4 of 169.254.169.254
      "http://[2002:c0a8:101::1]:8080/", // 6to4 of 192.168.1.1
      "http://[64:ff9b::a9fe:a9fe]/", // NAT64 of the metadata address
      "http://[64:ff9b:1::808:808]/", // NAT64 local-use: cannot be checked
      "http://[2001:0:808:808::80ff:fffe]/", // Teredo, client 127.0.0.1
      "http://[2001:0:7f00:1::f7f7:f7f7]/", // Teredo, server 127.0.0.1
      "http://[::ffff:0:7f00:1]/", // IPv4-translated
      "http://[::7f00:1]/", // IPv4-compatible
      "http://[2606:4700::5efe:a00:1]/", // ISATAP interface id of 10.0.0.1
      "http://[fec0::1]/", // deprecated site-local, outside 2000::/3
    ];
    for (const url of refused) {
      const answer = await client.request<{ error: string; errorDescription: string }>("POST", hooks, { url });
      expect(answer.status, url).toBe(400);
      expect(answer.body.error, url).toBe("invalid_request");
      expect(answer.body.errorDescription, url).toMatch(/own network/);
      tally.input();
      tally.refuse();
    }
    const accepted = await client.request<{ secret: string }>("POST", hooks, { url: "http://[2002:808:808::1]/hook" });
    expect(accepted.status).toBe(201);
    secrets.add("webhook secret", accepted.body.secret);
    tally.case(
      "review 12.10: webhooks to 6to4, NAT64, Teredo, ISATAP and IPv4-translated forms of non-public IPv4 are refused",
    );
  });
});

describe("review 12.11: the vendor-credential scrypt leaves the event loop free", () => {
  // The functions the cloud (duplicate check) and the bridge (verdict) await: an immediate queued before each runs
  // before it resolves, which scryptSync made impossible (protocol/test/messages.test.ts has the same check).
  it("an immediate queued before a digest or a check runs before it resolves", async () => {
    const salt = Buffer.alloc(16, 5).toString("base64url");
    const account = { vendor: "sim", username: "site-a", password: "pw" };
    for (const run of [
      () => vendorCredentialDigest("sim", "site-a", "pw", salt),
      () => checkVendorCredentials({ salt, digest: "AAAA" }, account),
    ]) {
      const order: string[] = [];
      setImmediate(() => order.push("immediate"));
      await run();
      order.push("scrypt");
      expect(order).toEqual(["immediate", "scrypt"]);
    }
    tally.case("review 12.11: a vendor-credential check no longer blocks the event loop");
  });
});
