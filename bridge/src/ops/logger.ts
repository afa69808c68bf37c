import { type Logger, pino } from "pino";

export type { Logger };

/** Paths that may hold secrets in anything we log; pino replaces their values. */
const REDACT = [
  "password",
  "secret",
  "siteSecret",
  "clientSecret",
  "client_secret",
  "access_token",
  "authorization",
  "token",
  "*.password",
  "*.secret",
  "*.siteSecret",
  "*.access_token",
  "*.authorization",
  "*.token",
  "headers.authorization",
];

export function createLogger(level: string, stream?: NodeJS.WritableStream): Logger {
  const options = { level, base: { service: "latchkey-bridge" }, redact: { paths: REDACT, censor: "[redacted]" } };
  return stream ? pino(options, stream as pino.DestinationStream) : pino(options);
}
