/**
 * Reading diffusers' snake_case scheduler configs: each getter names the key and the valid range in its
 * error, so a bad `scheduler_config.json` says exactly what to fix. Unknown keys are never looked at.
 */

export type ConfigReader = ReturnType<typeof configReader>;

export function configReader(kind: string, config: Readonly<Record<string, unknown>> | undefined) {
  if (config !== undefined && (config === null || typeof config !== 'object' || Array.isArray(config))) {
    throw new TypeError(`${kind} config must be a plain object (diffusers' scheduler_config.json), got ${describe(config)}`);
  }
  const source = config ?? {};
  const prefix = `${kind} config:`;
  const present = (key: string) => source[key] !== undefined && source[key] !== null;

  return {
    number(key: string, fallback: number, range: { min?: number; max?: number; minExclusive?: boolean; integer?: boolean; text: string }): number {
      if (!present(key)) return fallback;
      const value = source[key];
      if (typeof value !== 'number') throw new TypeError(`${prefix} ${key} must be a number (${range.text}), got ${describe(value)}`);
      const tooLow = range.min !== undefined && (range.minExclusive ? value <= range.min : value < range.min);
      const tooHigh = range.max !== undefined && value > range.max;
      if (!Number.isFinite(value) || tooLow || tooHigh || (range.integer && !Number.isInteger(value))) {
        throw new RangeError(`${prefix} ${key} must be ${range.text}, got ${value}`);
      }
      return value;
    },
    boolean(key: string, fallback: boolean): boolean {
      if (!present(key)) return fallback;
      const value = source[key];
      if (typeof value !== 'boolean') throw new TypeError(`${prefix} ${key} must be true or false, got ${describe(value)}`);
      return value;
    },
    choice<T extends string>(key: string, fallback: T, choices: readonly T[]): T {
      if (!present(key)) return fallback;
      const value = source[key];
      if (typeof value !== 'string') throw new TypeError(`${prefix} ${key} must be one of ${choices.join(' | ')}, got ${describe(value)}`);
      if (!(choices as readonly string[]).includes(value)) {
        throw new RangeError(`${prefix} ${key} must be one of ${choices.join(' | ')}, got "${value}"`);
      }
      return value as T;
    },
    /** Keys whose non-default values change the math in ways kinema does not implement. */
    unsupported(key: string, isDefault: (value: unknown) => boolean, why: string): void {
      if (present(key) && !isDefault(source[key])) {
        throw new RangeError(`${prefix} ${key} = ${JSON.stringify(source[key])} is not supported (${why})`);
      }
    },
    raw(key: string): unknown {
      return source[key];
    },
  };
}

export function checkSteps(steps: unknown, max: number): number {
  if (typeof steps !== 'number' || !Number.isInteger(steps)) {
    throw new TypeError(`steps must be an integer from 1 to ${max}, got ${describe(steps)}`);
  }
  if (steps < 1 || steps > max) throw new RangeError(`steps must be from 1 to ${max} (num_train_timesteps), got ${steps}`);
  return steps;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value}"`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Freezes a plan and everything in it, so a plan can be shared between steps and callers safely. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value as object)) deepFreeze(inner);
  }
  return value;
}
