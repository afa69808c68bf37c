import { DEFAULT_TOPIC_PREFIX } from "@latchkey/protocol";
import { type Static, Type } from "@sinclair/typebox";

/**
 * The one settings schema of the bridge (zigbee2mqtt style): the YAML file, the environment overrides, the starter
 * file written by `latchkey-bridge init` and the validation messages are all derived from it. Options marked
 * `secret: true` are never echoed back in errors or logs.
 */

/** One of some strings; `Unsafe` only narrows the static type, the schema stays a union of literals. */
const oneOf = <const T extends string>(
  values: readonly T[],
  options: { default?: T; description: string; examples?: T[] },
) =>
  Type.Unsafe<T>(
    Type.Union(
      values.map((v) => Type.Literal(v)),
      options,
    ),
  );

const Port = (description: string, defaultPort: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort, description });

const Secret = (description: string, minLength: number) => Type.String({ minLength, description, secret: true });

const Id = (description: string) => Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", description });

const CloudSchema = Type.Object(
  {
    url: Type.String({
      pattern: "^https?://[^\\s]+$",
      description: "Base URL of the latchkey cloud API, e.g. https://api.example.com",
    }),
    bridgeId: Id("bridgeId answered by POST /integrators/v1/lock-holders/{lhId}/bridges"),
    secret: Secret("The secret answered with the bridgeId (shown once by the cloud)", 8),
    pollWaitSeconds: Type.Integer({
      minimum: 0,
      maximum: 30,
      default: 30,
      description: "Long-poll wait for the change feed, seconds",
    }),
    heartbeatSeconds: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 30,
      description: "Heartbeat period, seconds (the cloud shows a bridge offline after 90 s)",
    }),
    requestTimeoutSeconds: Type.Integer({
      minimum: 1,
      maximum: 300,
      default: 20,
      description: "Timeout of one cloud request (the long-poll adds its wait to it), seconds",
    }),
    backoffInitialMs: Type.Integer({
      minimum: 1,
      maximum: 600_000,
      default: 500,
      description:
        "First retry delay after a failed cloud call, milliseconds (doubles up to backoffMaxMs, with jitter)",
    }),
    backoffMaxMs: Type.Integer({
      minimum: 1,
      maximum: 3_600_000,
      default: 60_000,
      description: "Longest retry delay after failed cloud calls, milliseconds",
    }),
  },
  { additionalProperties: false, description: "The cloud this bridge carries documents and reports for" },
);

const AccountSchema = Type.Object(
  {
    username: Type.String({
      minLength: 1,
      maxLength: 128,
      description: "Login name; must not look like a lock id (use e.g. homeassistant@site)",
    }),
    password: Secret("Password (at least 12 characters)", 12),
    role: oneOf(["homeassistant"] as const, {
      default: "homeassistant",
      description: "homeassistant: reads discovery and lock state, publishes homeassistant/status",
    }),
  },
  { additionalProperties: false },
);

const MqttSchema = Type.Object(
  {
    siteSecret: Secret(
      "Site secret: each lock's MQTT password is derived from it (latchkey-bridge lock-credentials <lockId>)",
      16,
    ),
    broker: Type.Optional(
      oneOf(["embedded", "external"] as const, {
        description:
          "embedded: run an aedes broker in the bridge; external: connect to mqtt.url (default: external when url is set)",
        examples: ["embedded"],
      }),
    ),
    host: Type.String({
      minLength: 1,
      default: "127.0.0.1",
      description: "Embedded broker: listen address (0.0.0.0 to serve locks on the network)",
    }),
    port: Port("Embedded broker: MQTT TCP port (0 = any free port, logged at start)", 1883),
    wsPort: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()], {
      default: null,
      description: "Embedded broker: MQTT over WebSocket port (null = off, 0 = any free port)",
    }),
    url: Type.Optional(
      Type.String({
        pattern: "^(mqtts?|wss?|tcp)://[^\\s]+$",
        description: "External broker URL",
        examples: ["mqtt://127.0.0.1:1883"],
      }),
    ),
    username: Type.Optional(
      Type.String({
        minLength: 1,
        description: "External broker: the bridge's username",
        examples: ["latchkey-bridge"],
      }),
    ),
    password: Type.Optional(Secret("External broker: the bridge's password", 1)),
    keepaliveSeconds: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 30,
      description: "External broker: MQTT keepalive, seconds",
    }),
    accounts: Type.Array(AccountSchema, {
      default: [],
      description: "Embedded broker: logins for other clients such as Home Assistant",
      examples: [[{ username: "homeassistant@site", password: "a-long-random-password", role: "homeassistant" }]],
    }),
  },
  { additionalProperties: false, description: "MQTT broker for the locks" },
);

const VendorAccountSchema = Type.Object(
  {
    vendor: oneOf(["sim", "ble"] as const, { description: "sim: locks over MQTT; ble: locks over Bluetooth LE" }),
    username: Type.String({ minLength: 1, maxLength: 256, description: "Vendor account username" }),
    password: Secret("Vendor account password", 1),
    locks: Type.Optional(
      Type.Array(Id("lock id"), {
        description: "Lock ids that belong to this account (default: every lock reached over this vendor's transport)",
        examples: [["sim-lock-001"]],
      }),
    ),
  },
  { additionalProperties: false },
);

const OutboxSchema = Type.Object(
  {
    maxItems: Type.Integer({
      minimum: 1,
      default: 1_000_000,
      description: "Most items (lock reports and presence) kept while the cloud is unreachable",
    }),
    maxBytes: Type.Integer({
      minimum: 1024,
      default: 256 * 1024 * 1024,
      description: "Most bytes of stored items",
    }),
    maxAgeHours: Type.Integer({
      minimum: 1,
      default: 24 * 30,
      description: "Items older than this are dropped (counted in latchkey_bridge_outbox_dropped_total)",
    }),
    fullPolicy: oneOf(["refuse", "drop-oldest"] as const, {
      default: "refuse",
      description:
        "refuse: when full, refuse new messages (no PUBACK; locks keep them in their own buffers and retry); " +
        "drop-oldest: delete the oldest items to make room",
    }),
    synchronous: oneOf(["full", "normal"] as const, {
      default: "full",
      description: "SQLite synchronous mode: full survives power loss, normal only process crashes",
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      "Store-and-forward of the locks' sealed reports (events, telemetry) and presence while the cloud is unreachable",
  },
);

const UploadSchema = Type.Object(
  {
    batchSize: Type.Integer({ minimum: 1, maximum: 1000, default: 1000, description: "Items per upload batch" }),
    maxBatchBytes: Type.Integer({
      minimum: 4096,
      maximum: 1_000_000,
      default: 900_000,
      description: "Bytes per upload batch (the cloud takes at most 1 MiB of presence, 7 MiB of reports)",
    }),
    lanes: Type.Integer({
      minimum: 1,
      maximum: 8,
      default: 2,
      description: "Upload batches in flight at once, each of its own locks (a lock's reports go up in order)",
    }),
    backpressureItems: Type.Integer({
      minimum: 0,
      maximum: 10_000_000,
      default: 10_000,
      description:
        "While the upload is delivering and more items than this wait in the outbox, a lock's report is stored but its PUBACK waits (at most 1 s) for the backlog to come down; 0: never",
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: "Batches to the cloud (reports to /bridge/v1/reports, presence to /bridge/v1/ingest)",
  },
);

const HomeAssistantSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: "Publish Home Assistant MQTT discovery for each lock" }),
    discoveryPrefix: Type.String({
      pattern: "^[A-Za-z0-9_-]+$",
      default: "homeassistant",
      description: "Home Assistant discovery prefix",
    }),
  },
  { additionalProperties: false, default: {}, description: "Home Assistant MQTT discovery" },
);

const MetricsSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: "Serve /metrics (Prometheus) and /healthz" }),
    host: Type.String({ minLength: 1, default: "127.0.0.1", description: "Listen address of /metrics and /healthz" }),
    port: Port("Port of /metrics and /healthz (0 = any free port)", 9108),
  },
  { additionalProperties: false, default: {}, description: "Prometheus /metrics and /healthz" },
);

const HealthSchema = Type.Object(
  {
    cloudUnreachableSeconds: Type.Integer({
      minimum: 1,
      maximum: 604_800,
      default: 300,
      description:
        "/healthz says degraded once the cloud has been unreachable this long, seconds (the locks are served meanwhile)",
    }),
    outboxPercent: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 80,
      description: "/healthz says degraded once the outbox holds this share of outbox.maxItems or outbox.maxBytes, %",
    }),
  },
  { additionalProperties: false, default: {}, description: "When /healthz says degraded (it still answers 200)" },
);

const StatusSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: "Serve the read-only status page at / on the metrics port (metrics.host, metrics.port)",
    }),
    username: Type.String({
      minLength: 1,
      maxLength: 64,
      default: "operator",
      description: "Login name of the status page (asked only when status.password is set)",
    }),
    password: Type.Optional(
      Secret(
        "Password of the status page (HTTP Basic; at least 12 characters). Required when metrics.host is not a " +
          "loopback address, so the page is never open to the LAN without a login",
        12,
      ),
    ),
  },
  { additionalProperties: false, default: {}, description: "The operator's status page (read-only)" },
);

const BleSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description: "Reach ble vendor locks with @abandonware/noble (needs a Bluetooth adapter)",
    }),
    scanSeconds: Type.Integer({ minimum: 1, maximum: 600, default: 10, description: "Length of one scan, seconds" }),
    pollSeconds: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      default: 60,
      description: "Pause between BLE rounds (scan, then per lock: state, time and reports), seconds",
    }),
    commandTimeoutSeconds: Type.Integer({
      minimum: 1,
      maximum: 120,
      default: 10,
      description: "Timeout of one GATT command, seconds",
    }),
    retryMaxSeconds: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 300,
      description:
        "No usable Bluetooth adapter: the bridge serves MQTT locks and tries the adapter again, waiting from 1 s " +
        "doubling up to this many seconds",
    }),
  },
  { additionalProperties: false, default: {}, description: "Locks of ble vendor connections, over Bluetooth LE" },
);

const LogSchema = Type.Object(
  {
    level: oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, {
      default: "info",
      description: "pino log level",
    }),
  },
  { additionalProperties: false, default: {}, description: "Logging" },
);

export const BridgeConfigSchema = Type.Object(
  {
    cloud: CloudSchema,
    dataDir: Type.String({
      minLength: 1,
      default: "./data/bridge",
      description: "Directory of the bridge's SQLite files (relative to the config file)",
    }),
    topicPrefix: Type.String({
      pattern: "^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$",
      default: DEFAULT_TOPIC_PREFIX,
      description: "MQTT topic prefix",
    }),
    mqtt: MqttSchema,
    vendorAccounts: Type.Array(VendorAccountSchema, {
      default: [],
      description: "Vendor accounts this bridge serves; the cloud's vendor connections are checked against them",
      examples: [[{ vendor: "sim", username: "site-a", password: "the-vendor-password" }]],
    }),
    outbox: OutboxSchema,
    upload: UploadSchema,
    homeassistant: HomeAssistantSchema,
    metrics: MetricsSchema,
    health: HealthSchema,
    status: StatusSchema,
    ble: BleSchema,
    log: LogSchema,
  },
  { additionalProperties: false },
);

export type BridgeConfigInput = Static<typeof BridgeConfigSchema>;

/** The validated settings: defaults applied, `mqtt.broker` decided, `dataDir` absolute. */
export type BridgeConfig = BridgeConfigInput & {
  mqtt: BridgeConfigInput["mqtt"] & { broker: "embedded" | "external" };
};

export type VendorAccount = BridgeConfig["vendorAccounts"][number];
export type MqttAccount = BridgeConfig["mqtt"]["accounts"][number];

export { isSecretSchema } from "@latchkey/runtime";
