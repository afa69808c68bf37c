#!/usr/bin/env node
import { runTokenCli } from "../dist/src/cli/token.js";

process.exitCode = await runTokenCli(process.argv.slice(2));
