import { toHex } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import { call } from "./bridge-api.js";
import type { LogSink } from "./evidence.js";

/**
 * A phone registered with the app API (docs/app-api.md steps 1–2) under a device key the test holds, so it can sign
 * proofs for tokens of its own making. The one-time code is read from the cloud's log (the development sender).
 */
export async function registerDevice(
  apiUrl: string,
  logs: LogSink,
  phoneNumber: string,
  devicePublicKey: Uint8Array,
): Promise<{ token: string; deviceId: string; code: string }> {
  const started = await call(apiUrl, "POST", "/app/v1/verification", { body: { phoneNumber } });
  if (started.status !== 202) throw new Error(`verification: ${started.status} ${started.text}`);
  // Requesting a code voids the older ones: the newest line for the number is this one.
  const record = await pollUntil(
    `the one-time code for ${phoneNumber}`,
    () => [...logs.records("one-time code")].reverse().find((r) => r.phoneNumber === phoneNumber),
    { timeoutMs: 15_000, intervalMs: 20 },
  );
  const code = String(record.code);
  const confirmed = await call(apiUrl, "POST", `/app/v1/verification/${started.body.verificationId}/confirm`, {
    body: { code, devicePublicKey: toHex(devicePublicKey) },
  });
  if (confirmed.status !== 200) throw new Error(`confirm: ${confirmed.status} ${confirmed.text}`);
  return { token: confirmed.body.accessToken, deviceId: confirmed.body.deviceId, code };
}
