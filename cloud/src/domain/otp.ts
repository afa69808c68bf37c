import { randomBytes } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { Webhook } from "standardwebhooks";
import { pinnedPost } from "../security/pinned-post.js";
import { type Resolve, systemResolve, webhookUrlProblem } from "../security/webhook-target.js";

export interface OtpMessage {
  phoneNumber: string;
  code: string;
  /** Seconds the code stays valid. */
  expiresIn: number;
}

/** Delivers a one-time code to a phone (docs/app-api.md). A failure is logged; the phone may ask again. */
export interface OtpSender {
  readonly name: string;
  send(message: OtpMessage): Promise<void>;
}

/**
 * The development sender: writes the code to the cloud's log as `msg: "one-time code"` with `phoneNumber` and `code`
 * (the demo and tests read it there). Never use it where logs leave the machine: `latchkey-cloud serve` takes it only
 * when asked for by name (`--dev-otp-log`), and says so in the log at start.
 */
export function logOtpSender(log: FastifyBaseLogger): OtpSender {
  return {
    name: "log",
    async send(message) {
      log.info({ phoneNumber: message.phoneNumber, code: message.code }, "one-time code");
    },
  };
}

export interface OtpWebhookOptions {
  url: string;
  /** Standard Webhooks secret (`whsec_<base64>`): the receiver verifies each request with it. */
  secret: string;
  /** DNS for the delivery (tests map names to addresses). */
  resolve?: Resolve;
  /** The cloud setting `allowPrivateWebhookTargets`: the same address rule as integrator webhooks. */
  allowPrivate?: boolean;
  timeoutMs?: number;
}

/** An OTP webhook that cannot work: a bad URL, a URL into the cloud's own network, or a malformed secret. */
export class OtpWebhookConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OtpWebhookConfigError";
  }
}

/**
 * The webhook sender: POSTs `{phoneNumber, code, expiresIn}` signed per Standard Webhooks to a URL the operator
 * runs, which sends the SMS. The URL is checked like an integrator's webhook URL when the sender is made, and every
 * delivery connects only to the address that was checked (security/webhook-target.ts, security/pinned-post.ts): the
 * codes must not be sent into the cloud's own network by a URL that resolves there. No redirect is followed.
 */
export function webhookOtpSender(options: OtpWebhookOptions): OtpSender {
  const allowPrivate = options.allowPrivate === true;
  const problem = webhookUrlProblem(options.url, allowPrivate);
  if (problem) throw new OtpWebhookConfigError(`the one-time-code webhook URL ${problem}`);
  // At least 24 bytes of secret, base64 (what Standard Webhooks libraries generate), with or without `whsec_`.
  if (!/^(whsec_)?[A-Za-z0-9+/]{32,}={0,2}$/.test(options.secret)) {
    throw new OtpWebhookConfigError(
      "the one-time-code webhook secret must be a Standard Webhooks secret (whsec_<base64> of at least 24 bytes)",
    );
  }
  const signer = new Webhook(options.secret);
  const url = new URL(options.url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const resolve = options.resolve ?? systemResolve;
  return {
    name: "webhook",
    async send(message) {
      const body = JSON.stringify(message);
      const id = `otp_${randomBytes(16).toString("base64url")}`;
      // Transport freshness for the receiver's replay check: real wall-clock time, like integrator webhooks.
      const now = new Date();
      const status = await pinnedPost(
        url,
        {
          "content-type": "application/json",
          "user-agent": "latchkey-cloud-otp",
          "webhook-id": id,
          "webhook-timestamp": Math.floor(now.getTime() / 1000).toString(),
          "webhook-signature": signer.sign(id, now, body),
        },
        body,
        AbortSignal.timeout(timeoutMs),
        resolve,
        allowPrivate,
      );
      if (status < 200 || status >= 300) throw new Error(`OTP webhook answered HTTP ${status}`);
    },
  };
}
