import { createLogger as createProcessLogger, type Logger } from "@latchkey/runtime";

export type { Logger };

/** The bridge's logger: the base fields and redaction every latchkey process shares (@latchkey/runtime). */
export function createLogger(level: string, stream?: NodeJS.WritableStream): Logger {
  return createProcessLogger({ service: "latchkey-bridge", level, ...(stream ? { destination: stream } : {}) });
}
