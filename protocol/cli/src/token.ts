import { randomBytes } from "node:crypto";
import { Command, CommanderError, Option } from "commander";
import { toHex } from "../../src/bytes.js";
import { toDiagnostic } from "../../src/cbor/diagnostic.js";
import { decodeStrict } from "../../src/cbor/strict-decode.js";
import type { CborValue } from "../../src/cbor/tag.js";
import { decodeSign1 } from "../../src/cose/sign1.js";
import { ED25519_KEY_BYTES, getEd25519Backend, isStrongPublicKey, keyPairFromSeed } from "../../src/crypto/ed25519.js";
import { ProtocolError } from "../../src/errors.js";
import { ClaimLabel, CTI_BYTES, type KeyClaims, MAX_TOKEN_BYTES } from "../../src/token/claims.js";
import { signKeyToken } from "../../src/token/sign.js";
import { TrustStore } from "../../src/token/trust.js";
import { verifyKeyToken } from "../../src/token/verify.js";
import { hexArg, intArg, readSource, required, tokenBytesFrom, UsageError } from "./input.js";
import { PACKAGE_VERSION } from "./version.js";

/**
 * latchkey-token: make, sign, verify and read key tokens from a shell (docs/design.md section 5).
 * Exit codes: 0 done / accepted, 1 token rejected, 2 usage error. Bad input never shows a stack trace.
 */

interface Io {
  out(text: string): void;
  err(text: string): void;
}

function claimsFromJson(text: string): KeyClaims {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--claims is not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new UsageError("--claims must be a JSON object");
  const o = raw as Record<string, unknown>;
  const str = (name: string): string => {
    const v = o[name];
    if (typeof v !== "string" || v.length === 0) throw new UsageError(`claims field "${name}" must be non-empty text`);
    return v;
  };
  const int = (name: string): number => {
    const v = o[name];
    if (typeof v !== "number" || !Number.isSafeInteger(v))
      throw new UsageError(`claims field "${name}" must be integer unix seconds`);
    return v;
  };
  const hex = (name: string, length: number): Uint8Array => {
    const v = o[name];
    if (typeof v !== "string") throw new UsageError(`claims field "${name}" must be hex text`);
    return hexArg(v, `claims field "${name}"`, length);
  };
  const claims: KeyClaims = {
    iss: str("iss"),
    sub: str("sub"),
    aud: str("aud"),
    exp: int("exp"),
    nbf: int("nbf"),
    iat: int("iat"),
    cti: hex("cti", CTI_BYTES),
    cnf: hex("cnf", 32),
  };
  if (claims.nbf >= claims.exp) throw new UsageError('claims field "nbf" must be before "exp"');
  if (!isStrongPublicKey(claims.cnf)) throw new UsageError('claims field "cnf" is not a valid Ed25519 public key');
  return claims;
}

function claimsToJson(claims: KeyClaims) {
  return { ...claims, cti: toHex(claims.cti), cnf: toHex(claims.cnf) };
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

function describeClaims(payload: CborValue): string[] {
  if (!(payload instanceof Map)) return ["(payload is not a claims map)"];
  const names = new Map<unknown, string>(Object.entries(ClaimLabel).map(([name, label]) => [label, name]));
  const lines: string[] = [];
  for (const [label, value] of payload) {
    const name = names.get(label) ?? `claim ${String(label)}`;
    let shown = toDiagnostic(value).replace(/\n\s*/g, " ");
    if ((name === "exp" || name === "nbf" || name === "iat") && typeof value === "number")
      shown = `${value} (${iso(value)})`;
    lines.push(`  ${name.padEnd(4)} ${shown}`);
  }
  return lines;
}

function inspect(bytes: Uint8Array, io: Io): number {
  let item: CborValue;
  try {
    item = decodeStrict(bytes, { allowFloats: true, maxBytes: 1 << 20 });
  } catch (e) {
    io.err(`inspect: not well-formed CBOR: ${(e as Error).message}`);
    return 1;
  }
  io.out(`CBOR diagnostic notation (${bytes.length} bytes):`);
  io.out(toDiagnostic(item));
  try {
    const sign1 = decodeSign1(bytes, { maxBytes: 1 << 20, allowUntagged: true });
    io.out("");
    io.out("protected header:");
    io.out(toDiagnostic(sign1.protectedHeader));
    io.out("claims:");
    for (const line of describeClaims(decodeStrict(sign1.payload, { allowFloats: true }))) io.out(line);
    if (bytes.length > MAX_TOKEN_BYTES)
      io.out(`note: ${bytes.length} bytes is over the ${MAX_TOKEN_BYTES}-byte token limit`);
  } catch (e) {
    io.out("");
    io.out(`(not a COSE_Sign1 key token: ${(e as Error).message})`);
  }
  return 0;
}

function parseTrust(values: string[]): TrustStore {
  const store = new TrustStore();
  for (const value of values) {
    const [kid, key, extra] = value.split("=");
    if (kid === undefined || key === undefined || extra !== undefined) {
      throw new UsageError(`--trust must be <kid-hex>=<public-key-hex>, got "${value}"`);
    }
    const publicKey = hexArg(key, "--trust public key", ED25519_KEY_BYTES);
    if (!isStrongPublicKey(publicKey))
      throw new UsageError(`--trust key for kid ${kid} is not a valid Ed25519 public key`);
    store.add({ kid: hexArg(kid, "--trust kid"), publicKey });
  }
  return store;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * The signing key's hex and where it came from, for error messages: `--secret`, `--secret-file` or LATCHKEY_TOKEN_SECRET
 * (docs in protocol/README.md). A file or the environment keeps the key out of the process list and shell history.
 */
function signingSecret(opts: { secret?: string; secretFile?: string }): [string, string] {
  if (opts.secret !== undefined && opts.secretFile !== undefined)
    throw new UsageError("give either --secret or --secret-file, not both");
  if (opts.secret !== undefined) return [opts.secret, "--secret"];
  if (opts.secretFile !== undefined) return [readSource(opts.secretFile).toString("utf8").trim(), "--secret-file"];
  const env = process.env.LATCHKEY_TOKEN_SECRET;
  if (env !== undefined && env !== "") return [env.trim(), "LATCHKEY_TOKEN_SECRET"];
  throw new UsageError(
    "the issuer secret key is required: --secret-file <path>, LATCHKEY_TOKEN_SECRET or --secret <hex>",
  );
}

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command("latchkey-token")
    .description("Make, sign, verify and inspect latchkey key tokens (COSE_Sign1 / CWT, Ed25519)")
    .version(PACKAGE_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError(false);

  program
    .command("keygen")
    .description('print a new Ed25519 key pair as {"secret": hex, "public": hex}')
    .action(() => {
      const { secretKey, publicKey } = keyPairFromSeed(new Uint8Array(randomBytes(ED25519_KEY_BYTES)));
      io.out(JSON.stringify({ secret: toHex(secretKey), public: toHex(publicKey) }));
    });

  program
    .command("sign")
    .description(
      "sign claims (JSON {iss, sub, aud, exp, nbf, iat, cti: hex16, cnf: hex32}) into a token, printed as hex",
    )
    .option("--secret <hex>", "issuer secret key (32 bytes, hex); visible to other users in ps: prefer the next two")
    .option("--secret-file <path>", "a file holding the issuer secret key (hex)")
    .option("--kid <hex>", "issuer key id (hex)")
    .option("--claims <file|->", "claims JSON file, or - for standard input")
    .addHelpText(
      "after",
      "\nThe secret key may also come from LATCHKEY_TOKEN_SECRET (used when neither flag is given).",
    )
    .action((opts: { secret?: string; secretFile?: string; kid?: string; claims?: string }) => {
      const secretKey = hexArg(...signingSecret(opts), ED25519_KEY_BYTES);
      const claimsSource = required(opts.claims, "--claims");
      const kid = hexArg(required(opts.kid, "--kid"), "--kid");
      if (kid.length > 64) throw new UsageError("--kid must be at most 64 bytes");
      const claims = claimsFromJson(readSource(claimsSource).toString("utf8"));
      io.out(toHex(signKeyToken(claims, { kid, secretKey })));
    });

  program
    .command("verify")
    .description(
      "verify a token (raw CBOR, hex or base64url) as a lock would; exit 0 accepted, 1 rejected, 2 usage error",
    )
    .argument("<file|->", "token file, or - for standard input")
    .option("--trust <kid-hex>=<public-key-hex>", "a trusted issuer key (repeatable)", collect)
    .option("--lock <id>", "the verifying lock's id (must equal aud)")
    .option("--now <unix-seconds>", "the lock's current time")
    .option("--revoked <cti-hex,...>", "revoked key ids, comma-separated")
    .option("--leeway <seconds>", "clock leeway for nbf and exp", "60")
    .addOption(new Option("--backend <name>", "Ed25519 backend").choices(["node", "noble"]).default("node"))
    .option("--json", "print the result as JSON")
    .action(
      (
        source: string,
        opts: {
          trust?: string[];
          lock?: string;
          now?: string;
          revoked?: string;
          leeway: string;
          backend: "node" | "noble";
          json?: boolean;
        },
      ) => {
        const trust = parseTrust(required(opts.trust, "--trust"));
        const lockId = required(opts.lock, "--lock");
        const now = intArg(required(opts.now, "--now"), "--now");
        const leeway = intArg(opts.leeway, "--leeway");
        if (leeway < 0) throw new UsageError("--leeway must not be negative");
        const revoked = new Set(
          (opts.revoked ?? "")
            .split(",")
            .filter((s) => s.length > 0)
            .map((s) => toHex(hexArg(s.trim(), "--revoked", CTI_BYTES))),
        );
        const token = tokenBytesFrom(readSource(source));
        const result = verifyKeyToken(token, {
          trust,
          lockId,
          now,
          leeway,
          revoked,
          backend: getEd25519Backend(opts.backend),
        });
        if (result.ok) {
          const body = { ok: true, claims: claimsToJson(result.claims) };
          if (opts.json) io.out(JSON.stringify(body));
          else
            io.out(
              `accepted: key ${body.claims.cti} for ${result.claims.sub} on lock ${result.claims.aud}, valid ${iso(result.claims.nbf)} to ${iso(result.claims.exp)}`,
            );
          setExit(0);
        } else {
          if (opts.json) io.out(JSON.stringify({ ok: false, code: result.code, message: result.message }));
          else io.out(`rejected (${result.code}): ${result.message}`);
          setExit(1);
        }
      },
    );

  program
    .command("inspect")
    .description("print a token's CBOR diagnostic notation and its claims with readable dates (no verification)")
    .argument("<file|->", "token file, or - for standard input")
    .action((source: string) => {
      setExit(inspect(tokenBytesFrom(readSource(source)), io));
    });

  return program;
}

/** Runs the CLI and answers its exit code; never throws. */
export async function runTokenCli(
  argv: string[],
  io: Io = { out: (s) => console.log(s), err: (s) => console.error(s) },
): Promise<number> {
  let exitCode = 0;
  if (argv.length === 0) {
    io.err("usage: latchkey-token keygen | sign | verify | inspect  (see latchkey-token --help)");
    return 2;
  }
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  // A subcommand that needs arguments, given none, shows its usage rather than its first missing flag.
  const bare =
    argv.length === 1 ? program.commands.find((c) => c.name() === argv[0] && c.name() !== "keygen") : undefined;
  if (bare) {
    bare.outputHelp({ error: true });
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help")
        return 0;
      return 2;
    }
    if (e instanceof UsageError || e instanceof TypeError || e instanceof ProtocolError) {
      io.err(`latchkey-token: ${e.message}`);
      return 2;
    }
    const err = e as NodeJS.ErrnoException;
    if (err?.code === "ENOENT" || err?.code === "EISDIR" || err?.code === "EACCES") {
      io.err(`latchkey-token: cannot read ${err.path ?? "input"}: ${err.code}`);
      return 2;
    }
    io.err(`latchkey-token: ${err?.message ?? String(e)}`);
    return 2;
  }
}
