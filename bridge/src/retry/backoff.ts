// Backoff's home is @latchkey/runtime, next to the service loop; this name stays for the BLE parts that import it.
export { Backoff } from "@latchkey/runtime";
