import { bleSuite } from "./ble-suite.js";

/** The BLE suite (ble-suite.ts) on noble's and bleno's own stacks over emulated HCI controllers. */
bleSuite("hci-emulated");
