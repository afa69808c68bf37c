import { externalBrokerRun } from "./external-mqtt.js";
import type { BrokerMode } from "./site.js";
import { announceSkip } from "./skip.js";

/** The brokers the end-to-end flows run on: always the bridge's embedded one; also MQTT_URL's when it is set. */
export interface BrokerVariant {
  /** For test names, with the reason when skipped. */
  title: string;
  skip: boolean;
  /** A fresh mode per site: an external run gets its own prefixes. */
  mode(): BrokerMode;
}

export function brokerVariants(env: NodeJS.ProcessEnv = process.env): BrokerVariant[] {
  const url = env.MQTT_URL;
  if (!url) announceSkip("the runs on an external broker", "MQTT_URL is not set");
  return [
    { title: "embedded broker", skip: false, mode: () => ({ kind: "embedded" }) },
    {
      title: url ? `external broker ${url}` : "external broker (skipped: MQTT_URL is not set)",
      skip: !url,
      mode: () => ({ kind: "external", run: externalBrokerRun(url!) }),
    },
  ];
}
