#!/usr/bin/env node
import { runTokenCli } from "../dist/cli/src/token.js";

process.exitCode = await runTokenCli(process.argv.slice(2));
