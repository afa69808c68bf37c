import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Output } from "./output.js";

/** The machine-readable summary of docs/design.md section 5 (contract: these keys, nothing else). */
export interface StackSummary {
  apiUrl: string;
  integratorId: string;
  clientId: string;
  clientSecret: string;
  lockHolderId: string;
  vendorConnectionId: string;
  bridgeId: string;
  locks: string[];
}

/** What the terminal summary shows beyond the contract. */
export interface SummaryDetails {
  docsUrl: string;
  mqttUrl: string;
  metricsUrl: string | null;
  phoneNumber: string;
  /** The locks the lock holder has claimed with their setup codes (docs/design.md section 7). */
  claimedLocks: string[];
  dataDir: string;
  notes: string[];
  /** Home Assistant's broker login (--ha-password); its password is never printed. */
  homeAssistantUsername?: string;
}

/** Writes the summary with mode 0600 (it holds the client secret), atomically. */
export function writeSummaryJson(file: string, summary: StackSummary): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}

const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** One copy-paste line: fetch an access token, then create a key for the phone on the first lock. */
export function curlCreateKey(
  summary: StackSummary,
  phoneNumber: string,
  lockId = summary.locks[0] ?? "LOCK_ID",
): string {
  const tokenBody = JSON.stringify({
    grant_type: "client_credentials",
    client_id: summary.clientId,
    client_secret: summary.clientSecret,
    scope: "integrator.admin",
  });
  const keyBody = JSON.stringify({ userId: phoneNumber, durationMinutes: 60, metadata: { from: "curl" } });
  return (
    `TOKEN=$(curl -s ${summary.apiUrl}/auth/v1/token -H 'content-type: application/json' -d ${shellQuote(tokenBody)}` +
    ` | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')` +
    ` && curl -s ${summary.apiUrl}/integrators/v1/lock-holders/${summary.lockHolderId}/locks/${lockId}/keys` +
    ` -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d ${shellQuote(keyBody)}`
  );
}

/** "(claimed with their setup codes)", or which are not: the claim is what the cloud's trust rests on. */
function claimedNote(locks: readonly string[], claimed: readonly string[]): string {
  const unclaimed = locks.filter((id) => !claimed.includes(id));
  if (unclaimed.length === 0) return " (claimed with their setup codes)";
  return ` (not claimed: ${unclaimed.join(", ")})`;
}

export function printSummary(out: Output, summary: StackSummary, details: SummaryDetails): void {
  const label = (text: string) => out.style(text.padEnd(22), "bold");
  const lines = [
    "",
    out.style("latchkey is running", "bold", "green"),
    "",
    `  ${label("API")}${summary.apiUrl}`,
    `  ${label("OpenAPI docs")}${details.docsUrl}`,
    `  ${label("integrator")}${summary.integratorId}`,
    `  ${label("client id")}${summary.clientId}`,
    `  ${label("client secret")}${summary.clientSecret}`,
    `  ${label("lock holder")}${summary.lockHolderId}`,
    `  ${label("bridge")}${summary.bridgeId}  (MQTT ${details.mqttUrl}${details.metricsUrl ? `, metrics ${details.metricsUrl}/metrics` : ""})`,
    `  ${label("vendor connection")}${summary.vendorConnectionId}`,
    `  ${label("locks")}${summary.locks.join(", ")}${claimedNote(summary.locks, details.claimedLocks)}`,
    ...(details.homeAssistantUsername
      ? [
          `  ${label("Home Assistant")}MQTT integration: broker ${details.mqttUrl}, username ${details.homeAssistantUsername}, the --ha-password you gave; discovery prefix homeassistant`,
        ]
      : []),
    `  ${label("phone")}${details.phoneNumber} (simulated; holds the keys created for this number)`,
    `  ${label("data")}${details.dataDir}`,
    ...details.notes.map((n) => `  ${out.style("note:", "yellow")} ${n}`),
    "",
    "Create a key for the phone on the first lock (copy-paste):",
    "",
    curlCreateKey(summary, details.phoneNumber),
    "",
  ];
  out.raw(lines.join("\n"));
}
