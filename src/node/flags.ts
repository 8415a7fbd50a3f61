/**
 * The flag loop both command lines share (`kinema generate`, ./args.ts, and `npm run component`,
 * ./component-args.ts): each CLI declares its table and keeps its own defaults and checks. Pure: no Node
 * APIs, so it runs anywhere. Mistakes in the command line throw UsageError (the CLIs exit 2 on it).
 */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface FlagTable {
  /** Flags that take a value, as `--name value` or `--name=value`; each may be given once. */
  readonly values: ReadonlySet<string>;
  /** Flags that stand alone, such as `--json` or `-h`. */
  readonly switches: ReadonlySet<string>;
  /** Where an unknown option's message sends the user, e.g. `kinema generate --help`. */
  readonly help: string;
}

export interface ParsedFlags {
  /** Each value flag given, by its name (`--out`), with its text as typed. */
  readonly values: ReadonlyMap<string, string>;
  /** The switches given. */
  readonly switches: ReadonlySet<string>;
  /** Everything else in order, including all that follows a bare `--`. */
  readonly positional: readonly string[];
}

/**
 * Splits argv into value flags, switches and positional words. A value flag's next word is its value even
 * when it starts with a dash (`--negative -blur`), as the user clearly meant it to be; a lone `-` is
 * positional.
 */
export function parseFlags(argv: readonly string[], table: FlagTable): ParsedFlags {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (table.values.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      if (values.has(name)) throw new UsageError(`${name} was given twice`);
      values.set(name, value);
    } else if (table.switches.has(name)) {
      // `--json=false` would otherwise read as --json: say so rather than do the opposite of what was typed.
      if (eq > 0) throw new UsageError(`${name} takes no value (drop "=${arg.slice(eq + 1)}")`);
      switches.add(name);
    } else if (arg.startsWith('-') && arg.length > 1) {
      throw new UsageError(`unknown option ${arg} (see ${table.help})`);
    } else {
      positional.push(arg);
    }
  }
  return { values, switches, positional };
}

/**
 * Runs one of the API's checks (checkLimit, checkOneOf) on a flag's value, so the command line says what the
 * API would ("--steps must be an integer from 1 to 1000; got 0") as a UsageError rather than a TypeError.
 */
export function asUsage<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
