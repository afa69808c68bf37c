import type { Clock } from "@latchkey/protocol";
import type { FastifyBaseLogger } from "fastify";
import type { OtpSender } from "./domain/otp.js";
import type { ChangeNotifier } from "./feed/notifier.js";
import type { CloudMetrics } from "./ops/metrics.js";
import type { IdGenerator, RandomSource } from "./security/ids.js";
import type { Sealer } from "./security/secrets.js";
import type { Resolve } from "./security/webhook-target.js";
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
  /**
   * The most any token may live, from its minting (review 12.6): a key with a far end gets tokens that run out sooner
   * and phones re-prefetch, so no issuer key (and no leaked one) stays trusted for years.
   */
  maxTokenLifetimeSeconds: number;
  eventWindowDays: number;
  metadataMaxBytes: number;
  webhookRetry: RetryPolicy;
  /** How long a bridge may stay silent before it is shown offline, and its locks with it (domain/lock-presence.ts). */
  bridgeOfflineAfterSeconds: number;
  /**
   * The least time between two `lock.online` / `lock.offline` of one lock: a bridge flapping its locks' presence gets
   * at most one announcement per lock per this, the last state announced when it is up (docs/webhooks.md "Presence").
   */
  lockPresenceMinGapSeconds: number;
  /** One-time codes allowed per phone number per window (domain/otp-limits.ts, docs/app-api.md "Limits"). */
  otpPerWindow: number;
  otpWindowSeconds: number;
  /** One-time codes per phone number per 24 h; reaching it locks the number out of new codes. */
  otpPerDay: number;
  /** The first lockout; each further one (until the number is verified) lasts twice as long, up to the max. */
  otpLockoutSeconds: number;
  otpLockoutMaxSeconds: number;
  /** One-time codes requested per client address (IPv6: per /64) per hour. */
  otpCodesPerAddressPerHour: number;
  /** Wrong one-time codes given per client address (IPv6: per /64) per hour. */
  otpWrongCodesPerAddressPerHour: number;
  /**
   * `POST /auth/v1/token` requests per client id and per client address per `tokenRateWindowSeconds`
   * (@fastify/rate-limit, kept in each process's memory); 0 turns that limit off.
   */
  tokenRequestsPerClient: number;
  tokenRequestsPerAddress: number;
  tokenRateWindowSeconds: number;
  /**
   * Let webhooks reach loopback, private, link-local and other non-public addresses (on-premises setups, tests whose
   * receivers listen on 127.0.0.1). Off by default: an integrator's URL must not make the cloud call its own network.
   */
  allowPrivateWebhookTargets: boolean;
  /** Keys per batch-job transaction (progress is committed per chunk; a restart resumes after the last one). */
  batchChunkKeys: number;
  /**
   * How long a worker holds a batch job it works on, renewed at every chunk: a job whose worker died (a killed
   * process) is taken over by any worker once this ran out. Longer than a chunk takes, or a slow worker loses its job.
   */
  batchJobLeaseSeconds: number;
}

/** What routes, domain code and workers share: one per running cloud. */
export interface CloudContext {
  store: Store;
  clock: Clock;
  ids: IdGenerator;
  random: RandomSource;
  sealer: Sealer;
  /** The one-time-code HMAC key (security/otp-key.ts), opened from the database with the master key. */
  otpKey: Uint8Array;
  notifier: ChangeNotifier;
  otpSender: OtpSender;
  settings: CloudSettings;
  log: FastifyBaseLogger;
  /** DNS for webhook deliveries (security/webhook-target.ts); tests inject names. */
  webhookResolve: Resolve;
  /** Wakes the background workers after a write that gave them work. */
  wake: { jobs(): void; webhooks(): void };
  /** Prometheus counters (ops/metrics.ts), moved after a commit, never inside a transaction. */
  metrics: CloudMetrics;
}
