import type { Logger } from "../ops/logger.js";
import { isCredentialsRefused } from "./errors.js";

/**
 * How a retrying loop logs its failed cloud calls. A refusal of the bridge's credentials is a configuration error
 * that no retry fixes: it is logged at error once when it starts (its message names `cloud.secret`), then at debug
 * while it lasts, so the log does not fill with one warning per retry. Anything else is a warning each time, as before.
 */
export class CloudFailureLog {
  private refused = false;

  constructor(private readonly logger: Logger) {}

  failed(error: unknown, fields: Record<string, unknown>, msg: string): void {
    const err = (error as Error).message;
    if (isCredentialsRefused(error)) {
      if (this.refused) this.logger.debug({ ...fields, err }, msg);
      else this.logger.error({ ...fields, err }, msg);
      this.refused = true;
      return;
    }
    this.logger.warn({ ...fields, err }, msg);
  }

  /** A call went through: a later refusal is news again. */
  succeeded(): void {
    this.refused = false;
  }
}
