import type { FastifyBaseLogger } from "fastify";
import { Webhook } from "standardwebhooks";

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
 * (the demo and tests read it there). Never use it where logs leave the machine.
 */
export function logOtpSender(log: FastifyBaseLogger): OtpSender {
  return {
    name: "log",
    async send(message) {
      log.info({ phoneNumber: message.phoneNumber, code: message.code }, "one-time code");
    },
  };
}

/**
 * The webhook sender: POSTs `{phoneNumber, code, expiresIn}` signed per Standard Webhooks to a URL the integrator
 * runs, which sends the SMS.
 */
export function webhookOtpSender(url: string, secret: string, timeoutMs = 10_000): OtpSender {
  const signer = new Webhook(secret);
  let counter = 0;
  return {
    name: "webhook",
    async send(message) {
      const body = JSON.stringify(message);
      const id = `otp_${Date.now().toString(36)}_${(counter++).toString(36)}`;
      const now = new Date();
      const response = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": Math.floor(now.getTime() / 1000).toString(),
          "webhook-signature": signer.sign(id, now, body),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) throw new Error(`OTP webhook answered HTTP ${response.status}`);
    },
  };
}
