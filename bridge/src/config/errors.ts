/** A configuration problem: each issue names the config key (or environment variable) at fault. */
export interface ConfigIssue {
  /** Dotted key path such as `mqtt.port` or `vendorAccounts[0].vendor`, or an environment variable name. */
  key: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(source: string, issues: ConfigIssue[]) {
    super(`invalid bridge configuration (${source}):\n${issues.map((i) => `  - ${i.key}: ${i.message}`).join("\n")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}
