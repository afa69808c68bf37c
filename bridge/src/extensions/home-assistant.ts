import { HomeAssistant } from "../homeassistant/home-assistant.js";
import type { Health } from "../ops/http.js";
import { BRIDGE_VERSION } from "../version.js";
import type { BridgeContext, Extension } from "./extension.js";
import type { BridgeHealthParts } from "./ops.js";

/** Home Assistant discovery and state (MQTT), with a device for the bridge itself. */
export class HomeAssistantExtension implements Extension {
  readonly name = "homeassistant";
  private readonly homeAssistant: HomeAssistant;

  constructor(ctx: BridgeContext, health: () => Health) {
    const { settings, registry, outbox, events } = ctx;
    this.homeAssistant = new HomeAssistant(
      ctx.broker,
      registry,
      ctx.topics,
      settings.homeassistant.discoveryPrefix,
      ctx.bridgeId,
      BRIDGE_VERSION,
      ctx.logger.child({ part: "homeassistant" }),
      () => {
        const h = health() as Health & Partial<BridgeHealthParts>;
        return {
          status: String(h.status),
          cloud_reachable: h.cloud?.reachable === true,
          locks_online: registry.countOnline(),
          locks_known: registry.size,
          outbox_items: outbox.size.items,
          ble: h.ble?.state ?? null,
          degraded: (h.degraded ?? []).map((d) => d.check),
        };
      },
    );
    events.on("homeAssistantStatus", (payload) => this.homeAssistant.onStatus(payload));
    events.on("bridgeStateChanged", () => this.homeAssistant.bridgeStateSoon());
  }

  async start(): Promise<void> {
    this.homeAssistant.start();
  }

  async drain(): Promise<void> {
    this.homeAssistant.stop();
  }

  async stop(): Promise<void> {}
}
