import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { testConfig } from "./helpers/bridge.js";
import { tempDir } from "./helpers/fixtures.js";
import { TestCloud } from "./helpers/test-cloud.js";

const BIN = fileURLToPath(new URL("../bin/latchkey-bridge.js", import.meta.url));
const run = promisify(execFile);

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** A port something else already listens on. */
async function taken(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, server };
}

/** `latchkey-bridge check` tries what the bridge needs and says what failed (issue 15 item 2). */
describe("latchkey-bridge check", () => {
  let dir: ReturnType<typeof tempDir>;
  let cloud: TestCloud;
  const servers: Server[] = [];
  beforeAll(() => {
    if (!existsSync(fileURLToPath(new URL("../dist/src/cli/check.js", import.meta.url))))
      throw new Error("bridge is not built: run `npx tsc -b bridge` before these tests");
  });
  beforeEach(async () => {
    dir = tempDir();
    cloud = new TestCloud();
    await cloud.start();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) s.close();
    await cloud.stop();
    dir.remove();
  });

  const configFile = (extra: Parameters<typeof testConfig>[2] = {}) => {
    const file = join(dir.path, "bridge.yaml");
    writeFileSync(file, stringify(testConfig(cloud, "./data", extra)));
    return file;
  };

  it("logs in to the cloud, reads its feed and finds the ports free: exit 0", async () => {
    const { code, stdout } = await cli(["check", "--config", configFile()]);
    expect(code).toBe(0);
    expect(stdout).toContain("br-test: configuration ok");
    expect(stdout).toMatch(new RegExp(`^ok +cloud +${cloud.url} +logged in as br-test, change feed readable$`, "m"));
    expect(stdout).toMatch(/^ok +broker +127\.0\.0\.1:0 +any free port/m);
    expect(cloud.cursorsAsked).toEqual([""]);
  });

  it("a refused secret fails naming cloud.secret; the secret itself is never printed", async () => {
    const file = configFile({ cloud: { url: cloud.url, bridgeId: "br-test", secret: "the-wrong-secret" } });
    const { code, stdout, stderr } = await cli(["check", "--config", file]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^failed +cloud .*401 invalid_client.*check cloud\.secret/m);
    expect(stderr.trim()).toBe(`latchkey-bridge: check failed: cloud (${cloud.url})`);
    expect(stdout + stderr).not.toContain("the-wrong-secret");
  });

  it("an unreachable cloud and a taken broker port fail, each naming its address", async () => {
    const busy = await taken();
    servers.push(busy.server);
    const gone = await taken();
    gone.server.close();
    const down = `http://127.0.0.1:${gone.port}`;
    const file = configFile({
      cloud: { url: down, bridgeId: "br-test", secret: cloud.secret },
      mqtt: { siteSecret: "site-secret-for-tests-0123456789", port: busy.port },
    });
    const { code, stdout, stderr } = await cli(["check", "--config", file]);
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`^failed +cloud +${down} +unreachable`, "m"));
    expect(stdout).toMatch(new RegExp(`^failed +broker +127\\.0\\.0\\.1:${busy.port} +in use`, "m"));
    expect(stderr.trim()).toBe(`latchkey-bridge: check failed: cloud (${down}), broker (127.0.0.1:${busy.port})`);
    // --offline checks the settings only.
    expect((await cli(["check", "--offline", "--config", file])).code).toBe(0);
  });

  it("an external broker that does not answer fails naming its URL", async () => {
    const gone = await taken();
    gone.server.close();
    const url = `mqtt://127.0.0.1:${gone.port}`;
    const { code, stdout } = await cli([
      "check",
      "--config",
      configFile({ mqtt: { siteSecret: "site-secret-for-tests-0123456789", url } }),
    ]);
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`^failed +broker +${url.replace(/\./g, "\\.")} +unreachable`, "m"));
  });

  it.skipIf(!process.env.MQTT_URL)("an external broker that answers passes (MQTT_URL)", async () => {
    const url = process.env.MQTT_URL!;
    const { stdout } = await cli([
      "check",
      "--config",
      configFile({ mqtt: { siteSecret: "site-secret-for-tests-0123456789", url } }),
    ]);
    expect(stdout).toMatch(/^ok +broker +\S+ +an MQTT broker answers/m);
  });
});
