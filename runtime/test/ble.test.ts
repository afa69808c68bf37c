import { describe, expect, it } from "vitest";
import { BleTimeoutError, BleUnavailableError, loadNoble, loadNobleWithBindings, withTimeout } from "../src/index.js";

describe("BLE central pieces", () => {
  it("withTimeout answers what settles in time and rejects what does not with a BleTimeoutError", async () => {
    expect(await withTimeout(Promise.resolve(7), 1000, "answering")).toBe(7);
    const late = await withTimeout(new Promise(() => {}), 10, "waiting for nothing").catch((e: unknown) => e);
    expect(late).toBeInstanceOf(BleTimeoutError);
    expect(late).toMatchObject({ code: "timeout", message: "timed out after 10 ms waiting for nothing" });
  });

  it("loadNoble turns a failed import into a BleUnavailableError with the caller's advice", async () => {
    const error = await loadNoble(
      (cause) => `no Bluetooth here (${cause}); try a VirtualRadio`,
      () => {
        throw new Error("EAFNOSUPPORT");
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BleUnavailableError);
    expect(error).toMatchObject({
      code: "ble_unavailable",
      message: "no Bluetooth here (EAFNOSUPPORT); try a VirtualRadio",
    });
  });

  it("noble's with-bindings entry loads on any host: it touches no adapter", async () => {
    expect(typeof (await loadNobleWithBindings())).toBe("function");
  });
});
