#!/usr/bin/env node
import { runMosquittoAclCli } from "../dist/src/cli/mosquitto-acl.js";

process.exitCode = await runMosquittoAclCli(process.argv.slice(2));
