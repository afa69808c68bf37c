#!/usr/bin/env node
import { runStackCli } from "../dist/src/stack/cli.js";

process.exit(await runStackCli(process.argv.slice(2)));
