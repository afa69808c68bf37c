import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebhookReceiver } from "../src/stack/webhook-receiver.js";

const SECRET = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;

describe("the demo's webhook receiver", () => {
  let receiver: WebhookReceiver;
  beforeEach(() => {
    receiver = new WebhookReceiver();
  });
  afterEach(() => receiver.close());

  async function deliver(secret: string, id: string, body: object): Promise<number> {
    const payload = JSON.stringify(body);
    const timestamp = new Date();
    const signature = new Webhook(secret).sign(id, timestamp, payload);
    const res = await fetch(receiver.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
        "webhook-signature": signature,
      },
      body: payload,
    });
    return res.status;
  }

  it("keeps deliveries whose Standard Webhooks signature verifies, and refuses forged ones", async () => {
    await receiver.listen();
    receiver.useSecret(SECRET);
    const event = {
      type: "key_event.created",
      timestamp: "2030-01-01T00:00:00Z",
      data: { id: "ev_1", action: "unlocked" },
    };
    expect(await deliver(SECRET, "msg_1", event)).toBe(204);
    const other = `whsec_${Buffer.alloc(32, 8).toString("base64")}`;
    expect(await deliver(other, "msg_2", { ...event, data: { id: "ev_2" } })).toBe(401);
    const got = await receiver.waitFor("the delivery", (d) => d.data.id === "ev_1", { timeoutMs: 1000 });
    expect(got).toEqual({
      id: "msg_1",
      type: "key_event.created",
      timestamp: "2030-01-01T00:00:00Z",
      data: event.data,
    });
    expect(receiver.received).toHaveLength(1);
    expect(receiver.rejected).toBe(1);
  });

  it("refuses everything until it knows the secret", async () => {
    await receiver.listen();
    expect(await deliver(SECRET, "msg_1", { type: "x", data: {} })).toBe(401);
    expect(receiver.received).toEqual([]);
  });
});
