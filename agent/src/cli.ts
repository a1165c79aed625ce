/** Parsed command line; `error` set means exit 2 with that message. */
export type CliCommand =
  | { command: "enroll"; config: string; token: string }
  | { command: "run"; config: string; token?: string }
  | { command: "help" };

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const USAGE = `usage:
  cloudphone-agent enroll --config <file> --token <enrollment token>
  cloudphone-agent run --config <file> [--token <enrollment token>]`;

const ALLOWED: Record<"enroll" | "run", readonly string[]> = { enroll: ["--config", "--token"], run: ["--config", "--token"] };

/** Pure: argv (without node and script) → command, or a UsageError naming the offending flag. */
export function parseArgs(argv: readonly string[]): CliCommand {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") return { command: "help" };
  if (command !== "enroll" && command !== "run") throw new UsageError(`unknown command ${JSON.stringify(command)}; expected enroll or run`);
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    let name = arg;
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    if (!ALLOWED[command].includes(name)) throw new UsageError(`unknown flag ${JSON.stringify(name)} for ${command}`);
    if (value === undefined) {
      value = rest[++i];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`flag ${name} needs a value`);
    }
    if (value === "") throw new UsageError(`flag ${name} must not be empty`);
    if (flags.has(name)) throw new UsageError(`flag ${name} given twice`);
    flags.set(name, value);
  }
  const config = flags.get("--config");
  if (!config) throw new UsageError(`${command} needs --config <file>`);
  const token = flags.get("--token");
  if (command === "enroll") {
    if (!token) throw new UsageError("enroll needs --token <enrollment token>");
    return { command, config, token };
  }
  return token ? { command, config, token } : { command, config };
}
