import { afterAll, afterEach, expect, inject } from "vitest";
import { Resources } from "../resources.js";
import { LogSink, Secrets } from "./evidence.js";
import { Tally } from "./tally.js";

/**
 * What a reliability test file keeps across its tests: its counts, every log line and every secret made. Each test
 * gets fresh `resources`, cleaned up after it; at the end no secret may be in any log, and the counts are published.
 */
export class ReliabilityFile {
  readonly tally: Tally;
  readonly logs = new LogSink();
  readonly secrets = new Secrets();
  resources = new Resources();

  constructor(name: string) {
    this.tally = new Tally(name);
    afterEach(async () => {
      await this.resources.cleanup();
      this.resources = new Resources();
    });
    afterAll(() => {
      expect(this.secrets.foundIn(this.logs.text())).toEqual([]);
      this.tally.publish(inject("reliabilityReport"));
    });
  }
}
