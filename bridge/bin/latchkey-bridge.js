#!/usr/bin/env -S node --max-semi-space-size=2 --v8-pool-size=1 --optimize-for-size
import { main } from "../dist/src/cli/main.js";

await main(process.argv);
