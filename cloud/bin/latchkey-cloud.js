#!/usr/bin/env node
import { runCloudCli } from "../dist/src/cli/main.js";

process.exitCode = await runCloudCli(process.argv.slice(2));
