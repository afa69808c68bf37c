import type { Clock } from "@latchkey/protocol";
import type { FastifyBaseLogger } from "fastify";
import type { OtpSender } from "./domain/otp.js";
import type { ChangeNotifier } from "./feed/notifier.js";
import type { IdGenerator, RandomSource } from "./security/ids.js";
import type { Sealer } from "./security/secrets.js";
import type { Store } from "./store/store.js";

export interface RetryPolicy {
  /** First retry delay cap, ms; doubles per attempt up to `maxDelayMs` (full jitter picks in [0, cap]). */
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  /** Per-attempt HTTP timeout, ms. */
  timeoutMs: number;
}

export interface CloudSettings {
  issuerName: string;
  linkBase: string;
  accessTokenTtlSeconds: number;
  appTokenTtlSeconds: number;
  /** Lifetime of a token for a key without end: the app re-prefetches before it runs out. */
  openEndedTokenSeconds: number;
  eventWindowDays: number;
  metadataMaxBytes: number;
  webhookRetry: RetryPolicy;
  /** How long a bridge may stay silent before it is shown offline. */
  bridgeOfflineAfterSeconds: number;
  /** Verification codes allowed per phone number per window. */
  otpPerWindow: number;
  otpWindowSeconds: number;
}

/** What routes, domain code and workers share: one per running cloud. */
export interface CloudContext {
  store: Store;
  clock: Clock;
  ids: IdGenerator;
  random: RandomSource;
  sealer: Sealer;
  notifier: ChangeNotifier;
  otpSender: OtpSender;
  settings: CloudSettings;
  log: FastifyBaseLogger;
  /** Wakes the background workers after a write that gave them work. */
  wake: { jobs(): void; webhooks(): void };
}
