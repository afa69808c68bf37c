import type { CloudLinkStatus } from "../cloud/link.js";

/** One reason `/healthz` says `degraded`; `check` is stable (for alerting rules), `message` is for people. */
export interface Degradation {
  check: "cloud_credentials" | "cloud_unreachable" | "outbox" | "ble_unavailable";
  message: string;
}

export interface DegradationInput {
  /** Unix ms. */
  now: number;
  cloud: CloudLinkStatus;
  cloudUnreachableSeconds: number;
  outbox: { items: number; bytes: number; maxItems: number; maxBytes: number };
  outboxPercent: number;
  /** null when BLE is off. */
  ble: { state: string; reason: string | null } | null;
}

/**
 * Why the bridge is degraded (empty: it is not). Degraded is not down: locks are served and reports stored, so
 * `/healthz` still answers 200; the reasons say what an operator should look at (docs in bridge/README.md).
 */
export function degradations(input: DegradationInput): Degradation[] {
  const out: Degradation[] = [];
  const { cloud } = input;
  if (cloud.credentialsRefused)
    out.push({
      check: "cloud_credentials",
      message: `the cloud refuses this bridge's credentials: check cloud.secret and cloud.bridgeId (${cloud.credentialsRefused.message})`,
    });
  if (cloud.unreachableSince !== null) {
    const seconds = Math.floor((input.now - cloud.unreachableSince) / 1000);
    if (seconds >= input.cloudUnreachableSeconds)
      out.push({
        check: "cloud_unreachable",
        message:
          `the cloud (${cloud.url}) has been unreachable for ${seconds} s` +
          (cloud.lastError ? `: ${cloud.lastError.message}` : ""),
      });
  }
  const { items, bytes, maxItems, maxBytes } = input.outbox;
  const share = Math.max(items / maxItems, bytes / maxBytes) * 100;
  if (share >= input.outboxPercent)
    out.push({
      check: "outbox",
      message: `the outbox is ${Math.floor(share)} % full (${items} of ${maxItems} items, ${bytes} of ${maxBytes} bytes)`,
    });
  if (input.ble?.state === "unavailable")
    out.push({
      check: "ble_unavailable",
      message: `Bluetooth LE is unavailable${input.ble.reason ? `: ${input.ble.reason}` : ""}`,
    });
  return out;
}
