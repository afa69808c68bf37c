#!/usr/bin/env node
import { runLockSimCli } from "../dist/src/cli/lock-sim.js";

process.exitCode = await runLockSimCli(process.argv.slice(2));
