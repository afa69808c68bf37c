import { createHash } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { OtpWebhookConfigError, webhookOtpSender } from "../src/domain/otp.js";
import { otpCodeMac } from "../src/security/otp-key.js";
import { NonPublicTargetError } from "../src/security/webhook-target.js";
import { codeFromLog } from "./app.js";
import { closeAll, startTestCloud, type TestCloud } from "./helpers.js";
import { receiversEach } from "./receiver.js";

/** One-time codes (issue 12, findings 2–4): the webhook sender, the stored MAC, and the limits per number and address. */

afterEach(closeAll);

const SECRET = `whsec_${Buffer.from("otp webhook test secret, 32 bytes").toString("base64")}`;
const DEVICE_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

const listen = receiversEach();

/** An SMS gateway stand-in on 127.0.0.1 answering `status`; records what it was sent. */
async function receiver(status = 204) {
  const rx = await listen((res) =>
    res.writeHead(status, status === 302 ? { location: "http://127.0.0.1:1/" } : {}).end(),
  );
  return { received: rx.got, port: rx.port };
}

const toLoopback = async () => [{ address: "127.0.0.1", family: 4 }];

describe("the one-time-code webhook sender (issue 12.3)", () => {
  it("refuses at creation a URL into the cloud's network, a URL with credentials, and a malformed secret", () => {
    for (const url of ["http://127.0.0.1:9/sms", "http://localhost/sms", "http://[::1]/sms", "http://10.0.0.1/"]) {
      expect(() => webhookOtpSender({ url, secret: SECRET }), url).toThrow(OtpWebhookConfigError);
    }
    expect(() => webhookOtpSender({ url: "ftp://sms.example.com/", secret: SECRET })).toThrow(/http or https/);
    expect(() => webhookOtpSender({ url: "https://u:p@sms.example.com/", secret: SECRET })).toThrow(/password/);
    for (const secret of ["", "whsec_", "short", "whsec_c2hvcnQ=", "whsec_not base64 at all, really not!!"]) {
      expect(() => webhookOtpSender({ url: "https://sms.example.com/", secret }), secret).toThrow(/secret/);
    }
    expect(() => webhookOtpSender({ url: "http://127.0.0.1:9/sms", secret: SECRET, allowPrivate: true })).not.toThrow();
  });

  it("delivers only to the address it checked: a public name that resolves to loopback is refused", async () => {
    const { received, port } = await receiver();
    const sender = webhookOtpSender({ url: `http://sms.example.com:${port}/sms`, secret: SECRET, resolve: toLoopback });
    await expect(sender.send({ phoneNumber: "+4791234567", code: "123456", expiresIn: 300 })).rejects.toBeInstanceOf(
      NonPublicTargetError,
    );
    expect(received).toEqual([]);
  });

  it("POSTs {phoneNumber, code, expiresIn} signed per Standard Webhooks; a non-2xx (a redirect too) is a failure", async () => {
    const { received, port } = await receiver();
    const sender = webhookOtpSender({
      url: `http://sms.example.com:${port}/sms`,
      secret: SECRET,
      resolve: toLoopback,
      allowPrivate: true,
    });
    await sender.send({ phoneNumber: "+4791234567", code: "123456", expiresIn: 300 });
    expect(received).toHaveLength(1);
    const { headers, body } = received[0]!;
    expect(headers["user-agent"]).toBe("latchkey-cloud-otp");
    const payload = new Webhook(SECRET).verify(body, {
      "webhook-id": String(headers["webhook-id"]),
      "webhook-timestamp": String(headers["webhook-timestamp"]),
      "webhook-signature": String(headers["webhook-signature"]),
    });
    expect(payload).toEqual({ phoneNumber: "+4791234567", code: "123456", expiresIn: 300 });

    const moved = await receiver(302);
    const redirected = webhookOtpSender({ url: `http://127.0.0.1:${moved.port}/`, secret: SECRET, allowPrivate: true });
    await expect(redirected.send({ phoneNumber: "+4791234567", code: "123456", expiresIn: 300 })).rejects.toThrow(
      /HTTP 302/,
    );
  });
});

describe("stored one-time codes (issue 12.2)", () => {
  it("are an HMAC under a server key, not a hash anyone can brute-force; the key survives a restart", async () => {
    const a = new Uint8Array(32).fill(1);
    const b = new Uint8Array(32).fill(2);
    expect(otpCodeMac(a, "ver_1", "123456")).not.toBe(otpCodeMac(b, "ver_1", "123456"));
    expect(otpCodeMac(a, "ver_1", "123456")).not.toBe(createHash("sha256").update("ver_1:123456").digest("base64url"));

    // A code asked for before a restart is confirmed after it: the key is kept (sealed) in the database.
    const t = await startTestCloud({ seed: "otp-restart" });
    const started = await t.call("POST", "/app/v1/verification", { body: { phoneNumber: "+4791234567" } });
    const code = await codeFromLog(t, "+4791234567");
    await t.cloud.close();
    const again = await startTestCloud({ seed: "otp-restart-2", dataDir: t.dir, clock: t.clock });
    const confirmed = await again.call("POST", `/app/v1/verification/${started.body.verificationId}/confirm`, {
      body: { code, devicePublicKey: DEVICE_KEY },
    });
    expect(confirmed.status).toBe(200);
  });
});

/** A request from `ip` (fastify's inject sets the socket's remote address). */
async function from(t: TestCloud, ip: string, url: string, body: unknown) {
  const res = await t.cloud.app.inject({ method: "POST", url, payload: body as object, remoteAddress: ip });
  return { status: res.statusCode, body: res.json(), retryAfter: res.headers["retry-after"] };
}

describe("one-time-code limits (issue 12.4)", () => {
  it("a code requested by someone else leaves the pending one valid", async () => {
    const t = await startTestCloud();
    const mine = await from(t, "198.51.100.1", "/app/v1/verification", { phoneNumber: "+4791234567" });
    const code = await codeFromLog(t, "+4791234567");
    const mark = t.logs.lines.length;
    const theirs = await from(t, "203.0.113.9", "/app/v1/verification", { phoneNumber: "+4791234567" });
    expect(theirs.status).toBe(202);
    await codeFromLog(t, "+4791234567", mark);
    const confirmed = await from(t, "198.51.100.1", `/app/v1/verification/${mine.body.verificationId}/confirm`, {
      code,
      devicePublicKey: DEVICE_KEY,
    });
    expect(confirmed.status).toBe(200);
  });

  it("an IPv6 client is counted by its /64; other addresses are not held back", async () => {
    const t = await startTestCloud({ settings: { otpCodesPerAddressPerHour: 2 } });
    const ask = (ip: string, n: number) =>
      from(t, ip, "/app/v1/verification", { phoneNumber: `+479123456${n}` }).then((r) => r.status);
    expect(await ask("2001:db8:1:2::1", 1)).toBe(202);
    expect(await ask("2001:db8:1:2:ffff::9", 2)).toBe(202);
    const refused = await from(t, "2001:db8:1:2::77", "/app/v1/verification", { phoneNumber: "+4791234563" });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toBe("too_many_requests");
    expect(refused.retryAfter).toBe("3600");
    expect(await ask("2001:db8:1:3::1", 4)).toBe(202);
    expect(await ask("::ffff:192.0.2.1", 5)).toBe(202);
    expect(await ask("192.0.2.1", 6)).toBe(202);
    expect(await ask("192.0.2.1", 7)).toBe(429);
    t.clock.advance(3_600_000);
    expect(await ask("2001:db8:1:2::1", 8)).toBe(202);
  });

  it("lockouts grow per number up to the maximum, and a verification clears them", async () => {
    const t = await startTestCloud({
      settings: { otpPerDay: 2, otpPerWindow: 2, otpLockoutSeconds: 60, otpLockoutMaxSeconds: 200 },
    });
    const ask = () => from(t, "198.51.100.1", "/app/v1/verification", { phoneNumber: "+4791234567" });
    const retryAfters: string[] = [];
    for (let day = 0; day < 4; day++) {
      expect((await ask()).status).toBe(202);
      expect((await ask()).status).toBe(202);
      const refused = await ask();
      expect(refused.status).toBe(429);
      retryAfters.push(String(refused.retryAfter));
      // (a day and a second: the codes of the day before no longer count)
      t.clock.advance(86_401_000);
    }
    expect(retryAfters).toEqual(["60", "120", "200", "200"]);
    const mark = t.logs.lines.length;
    const started = await ask();
    const code = await codeFromLog(t, "+4791234567", mark);
    const ok = await from(t, "198.51.100.1", `/app/v1/verification/${started.body.verificationId}/confirm`, {
      code,
      devicePublicKey: DEVICE_KEY,
    });
    expect(ok.status).toBe(200);
    t.clock.advance(86_401_000);
    await ask();
    await ask();
    expect((await ask()).retryAfter).toBe("60");
  });
});

describe("POST /auth/v1/token limits (issue 12.4)", () => {
  const body = (clientId: string) => ({
    grant_type: "client_credentials",
    client_id: clientId,
    client_secret: "wrong",
    scope: "integrator.admin",
  });

  it("per client id and per address, configurable, 429 with Retry-After", async () => {
    const t = await startTestCloud({ settings: { tokenRequestsPerClient: 2, tokenRequestsPerAddress: 5 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await from(t, "198.51.100.1", "/auth/v1/token", body("cl_a"))).status);
    expect(statuses).toEqual([401, 401, 429]);
    const limited = await from(t, "198.51.100.1", "/auth/v1/token", body("cl_a"));
    expect(limited.body).toEqual({ error: "too_many_requests", errorDescription: expect.any(String) });
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);
    // The same client id from another address: still its own limit.
    expect((await from(t, "203.0.113.9", "/auth/v1/token", body("cl_a"))).status).toBe(429);
    // Four requests so far from 198.51.100.1: a fifth is allowed, a sixth is not, whatever the client id.
    expect((await from(t, "198.51.100.1", "/auth/v1/token", body("cl_b"))).status).toBe(401);
    const byAddress = await from(t, "198.51.100.1", "/auth/v1/token", body("cl_c"));
    expect(byAddress.status).toBe(429);
    expect(byAddress.body.error).toBe("too_many_requests");
    expect(Number(byAddress.retryAfter)).toBeGreaterThan(0);
  });

  it("0 turns a limit off", async () => {
    const t = await startTestCloud({ settings: { tokenRequestsPerClient: 0, tokenRequestsPerAddress: 0 } });
    for (let i = 0; i < 100; i++) {
      expect((await from(t, "198.51.100.1", "/auth/v1/token", body("cl_a"))).status).toBe(401);
    }
  });
});
