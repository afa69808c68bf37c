import { hostname } from "node:os";
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/**
 * Where a secret could sit in anything any of our processes logs (a request's headers, a config object, a token
 * answer); pino replaces the value. One list for every process, so a field redacted in the cloud's log is redacted in
 * the bridge's too.
 */
export const REDACTED_PATHS: readonly string[] = [
  "password",
  "secret",
  "siteSecret",
  "clientSecret",
  "client_secret",
  "accessToken",
  "access_token",
  "authorization",
  "token",
  "*.password",
  "*.secret",
  "*.siteSecret",
  "*.clientSecret",
  "*.client_secret",
  "*.accessToken",
  "*.access_token",
  "*.authorization",
  "*.token",
  "headers.authorization",
  "req.headers.authorization",
];

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  /** The process's name, the same on every line: `latchkey-cloud`, `latchkey-bridge`, `latchkey-lock-sim`. */
  service: string;
  level?: string;
  /** Where the JSON lines go; stdout when absent. */
  destination?: NodeJS.WritableStream;
}

/**
 * The one logger factory of the cloud, the bridge and the lock simulator, so their lines share one set of base fields
 * (`service`, `pid`, `hostname`, `time` in Unix ms, numeric `level`, `msg`) and one redaction list; an operator's
 * log shipper needs one parser for all three (docs/design.md, "Operations").
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level ?? "info",
    base: { service: options.service, pid: process.pid, hostname: hostname() },
    redact: { paths: [...REDACTED_PATHS], censor: "[redacted]" },
  };
  return options.destination ? pino(settings, options.destination as DestinationStream) : pino(settings);
}
