import { randomBytes } from "node:crypto";
import { type Command, type CommandResult, encodeCommand, type Topics } from "@latchkey/protocol";
import type { LockBroker } from "../broker/transport.js";
import type { BridgeMetrics } from "../ops/metrics.js";

/** A command without its id (the channel assigns one). */
export type CommandRequest = Command extends infer C ? (C extends Command ? Omit<C, "id"> : never) : never;

const MAX_PENDING = 1000;

/**
 * Commands to MQTT locks over `cmd`, matched with their `cmd/result` by id. Bounded: at most MAX_PENDING waiting, each
 * with a timeout (answered as a result with code `timeout`, never an exception).
 */
export class CommandChannel {
  private readonly pending = new Map<string, { resolve: (r: CommandResult) => void; timer: NodeJS.Timeout }>();
  private counter = 0;
  private readonly nonce = randomBytes(4).toString("hex");

  constructor(
    private readonly broker: LockBroker,
    private readonly topics: Topics,
    private readonly metrics: BridgeMetrics,
  ) {}

  async send(lockId: string, request: CommandRequest, timeoutMs: number): Promise<CommandResult> {
    const id = `b${this.nonce}.${++this.counter}`;
    if (this.pending.size >= MAX_PENDING) {
      this.metrics.commands.inc({ result: "busy" });
      return { id, ok: false, code: "busy", message: "too many commands waiting" };
    }
    const command = { ...request, id } as Command;
    const key = `${lockId}\u0000${id}`;
    const result = new Promise<CommandResult>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        resolve({ id, ok: false, code: "timeout", message: `no answer from ${lockId} within ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(key, { resolve, timer });
    });
    try {
      await this.broker.publish(this.topics.lock(lockId, "cmd"), encodeCommand(command), { qos: 1 });
    } catch (e) {
      this.settle(key, { id, ok: false, code: "timeout", message: `could not send: ${(e as Error).message}` });
    }
    const answer = await result;
    this.metrics.commands.inc({ result: answer.ok ? "ok" : (answer.code ?? "failed") });
    return answer;
  }

  resolve(lockId: string, result: CommandResult): void {
    this.settle(`${lockId}\u0000${result.id}`, result);
  }

  private settle(key: string, result: CommandResult): void {
    const waiting = this.pending.get(key);
    if (!waiting) return;
    clearTimeout(waiting.timer);
    this.pending.delete(key);
    waiting.resolve(result);
  }

  close(): void {
    for (const [key, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.resolve({ id: key.split("\u0000")[1] ?? "", ok: false, code: "timeout", message: "bridge stopping" });
    }
    this.pending.clear();
  }
}
