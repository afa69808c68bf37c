import { Counter, Gauge, Registry, registerProcessMetrics } from "./exposition.js";

/**
 * Every metric of the bridge, on its own registry (several bridges may share a process in tests). Gauges that mirror
 * state read it when scraped (`collect`), so no code path has to keep them up to date.
 */
export class BridgeMetrics {
  readonly registry = new Registry();

  readonly outboxAdded: Counter<"kind">;
  readonly outboxDropped: Counter<"reason">;
  readonly outboxRefused: Counter;
  readonly outboxStoreErrors: Counter;
  readonly uploaded: Counter<"kind">;
  readonly uploadDuplicates: Counter<"kind">;
  readonly uploadBatches: Counter<"result">;
  readonly uploadBackpressure: Counter;
  readonly cloudErrors: Counter<"operation">;
  readonly feedChanges: Counter<"kind">;
  readonly feedRejected: Counter;
  readonly reportsRefused: Counter<"verdict">;
  readonly actions: Counter<"result">;
  readonly messagesReceived: Counter<"kind">;
  readonly messagesRejected: Counter<"reason">;
  readonly authFailures: Counter;
  readonly connectsAbandoned: Counter;
  readonly aclDenied: Counter<"action">;
  readonly retainedCleared: Counter<"kind">;
  readonly vendorReports: Counter<"state">;
  readonly bleRounds: Counter<"result">;
  readonly bleAdapterFailures: Counter;
  readonly statusLoginFailures: Counter;
  readonly commands: Counter<"result">;
  readonly relayedStates: Counter;
  readonly relayedTimeAnswers: Counter;
  readonly relayFetchFailures: Counter<"operation">;
  readonly timeRequestsDropped: Counter<"reason">;

  constructor() {
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) => {
      const metric = new Counter<L>(`latchkey_bridge_${name}`, help, labelNames);
      this.registry.register(metric);
      return metric;
    };
    this.outboxAdded = counter("outbox_added_total", "Items written to the outbox", ["kind"]);
    this.outboxDropped = counter(
      "outbox_dropped_total",
      "Items removed from the outbox without upload (age limit, drop-oldest when full, refused by the cloud)",
      ["reason"],
    );
    this.outboxRefused = counter("outbox_refused_total", "Lock messages refused because the outbox was full");
    this.outboxStoreErrors = counter(
      "outbox_store_errors_total",
      "Lock messages refused because the outbox could not store them (database locked, disk full, I/O error)",
    );
    this.uploaded = counter(
      "uploaded_total",
      "Items the cloud took: reports answered ok or duplicate, presence acknowledged",
      ["kind"],
    );
    this.uploadDuplicates = counter("upload_duplicates_total", "Reports the cloud already had (a retry)", ["kind"]);
    this.uploadBatches = counter("upload_batches_total", "Upload batches by result", ["result"]);
    this.uploadBackpressure = counter(
      "upload_backpressure_holds_total",
      "Lock reports stored whose PUBACK waited for the upload's backlog (upload.backpressureItems)",
    );
    this.reportsRefused = counter(
      "reports_refused_total",
      "Lock reports the cloud refused, by verdict (forged, wrong_lock, replayed, malformed, unknown_key, unclaimed): " +
        "carried, judged, dropped from the outbox",
      ["verdict"],
    );
    this.cloudErrors = counter("cloud_errors_total", "Failed cloud calls", ["operation"]);
    this.feedChanges = counter("feed_changes_total", "Change-feed entries applied", ["kind"]);
    this.feedRejected = counter("feed_changes_rejected_total", "Change-feed entries that could not be understood");
    this.messagesReceived = counter("lock_messages_total", "Messages received from locks", ["kind"]);
    this.messagesRejected = counter("lock_messages_rejected_total", "Lock messages that failed to decode or validate", [
      "reason",
    ]);
    this.authFailures = counter("mqtt_auth_failures_total", "Refused MQTT logins");
    this.connectsAbandoned = counter(
      "mqtt_connects_abandoned_total",
      "MQTT connections their client closed before the broker answered their CONNECT (a lock that gave up waiting in the " +
        "accept queue): not set up",
    );
    this.aclDenied = counter("mqtt_acl_denied_total", "Publishes and subscriptions refused by the ACL", ["action"]);
    this.retainedCleared = counter(
      "mqtt_retained_cleared_total",
      "Retained messages a lock left on its events, telemetry, cmd/result or time/request topic (external broker): ignored, cleared",
      ["kind"],
    );
    this.vendorReports = counter("vendor_reports_total", "Vendor connection state reports sent", ["state"]);
    this.bleRounds = counter("ble_rounds_total", "BLE sessions with locks by result", ["result"]);
    this.bleAdapterFailures = counter(
      "ble_adapter_failures_total",
      "Failed attempts to load the Bluetooth LE stack (no adapter, no HCI socket, no permission); retried with backoff",
    );
    this.statusLoginFailures = counter("status_login_failures_total", "Refused logins at the status page");
    this.commands = counter("commands_total", "Commands sent to locks by result", ["result"]);
    this.actions = counter(
      "actions_total",
      "Remote actions from the cloud by outcome (delivered, refused, unreachable, expired, closed, not_found, cloud_failed)",
      ["result"],
    );
    this.relayedStates = counter(
      "lock_states_relayed_total",
      "Signed lock state documents carried to locks, each a newer v (MQTT: retained on their state topic; BLE: at a visit)",
    );
    this.relayedTimeAnswers = counter(
      "time_answers_relayed_total",
      "Signed time answers carried to locks (MQTT or BLE)",
    );
    this.relayFetchFailures = counter(
      "relay_fetch_failures_total",
      "Signed documents the bridge could not get from the cloud (state, time; state_too_large: refused unsent)",
      ["operation"],
    );
    this.timeRequestsDropped = counter(
      "time_requests_dropped_total",
      "Time requests not relayed or answered: one already in flight for the lock, or over the 5 s round-trip cap",
      ["reason"],
    );
    // prom-client's defaults also had `nodejs_active_{resources,handles,requests}_total` gauges, which promtool
    // refuses (`_total` is for counters): not written.
    registerProcessMetrics(this.registry, "latchkey_bridge_");
  }

  /** A gauge whose value is read from `read` at scrape time. */
  gauge(name: string, help: string, read: () => number | Record<string, number>, labelName?: string): void {
    this.registry.register(new Gauge(`latchkey_bridge_${name}`, help, read, labelName));
  }
}
