import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { OtpWebhookConfigError, webhookOtpSender } from "../src/domain/otp.js";
import { otpCodeMac } from "../src/security/otp-key.js";
import { NonPublicTargetError } from "../src/security/webhook-target.js";
import { codeFromLog } from "./app.js";
import { closeAll, startTestCloud } from "./helpers.js";

/** One-time codes (issue 12, findings 2–4): the webhook sender, the stored MAC, and the limits per number and address. */

afterEach(closeAll);

const SECRET = `whsec_${Buffer.from("otp webhook test secret, 32 bytes").toString("base64")}`;
const DEVICE_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** An SMS gateway stand-in on 127.0.0.1 answering `status`; records what it was sent. */
async function receiver(status = 204) {
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(status, status === 302 ? { location: "http://127.0.0.1:1/" } : {}).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return { received, port: (server.address() as AddressInfo).port };
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
