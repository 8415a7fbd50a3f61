// The flag loop both command lines share: how it splits argv, and the three mistakes it refuses itself.
import { describe, expect, it } from 'vitest';
import { UsageError, asUsage, parseFlags, type FlagTable } from '../../src/node/flags';

const TABLE: FlagTable = { values: new Set(['--out', '--seed']), switches: new Set(['--json', '-h']), help: 'tool --help' };

const parse = (argv: string[]) => {
  const { values, switches, positional } = parseFlags(argv, TABLE);
  return { values: Object.fromEntries(values), switches: [...switches], positional };
};

describe('parseFlags', () => {
  it('takes a value after the flag or after =, switches, and positional words in order', () => {
    expect(parse(['a', '--out', 'x.mp4', '--json', 'b', '--seed=7', '-h'])).toEqual({
      values: { '--out': 'x.mp4', '--seed': '7' }, switches: ['--json', '-h'], positional: ['a', 'b'],
    });
  });

  it('keeps a value as typed: empty after =, with its own = signs, or starting with a dash', () => {
    expect(parse(['--out=']).values).toEqual({ '--out': '' });
    expect(parse(['--out=a=b']).values).toEqual({ '--out': 'a=b' });
    expect(parse(['--out', '--json', '--seed', '-1']).values).toEqual({ '--out': '--json', '--seed': '-1' });
    expect(parse(['--out', '--']).values).toEqual({ '--out': '--' });
  });

  it('ends the options at a bare --, and reads a lone - as a word', () => {
    expect(parse(['a', '--', '--out', 'x', '--frobnicate'])).toEqual({ values: {}, switches: [], positional: ['a', '--out', 'x', '--frobnicate'] });
    expect(parse(['-'])).toEqual({ values: {}, switches: [], positional: ['-'] });
  });

  it('takes a switch given twice as once', () => {
    expect(parse(['--json', '--json']).switches).toEqual(['--json']);
  });

  it.each([
    [['--out'], '--out needs a value'],
    [['x', '--seed'], '--seed needs a value'],
    [['--out', 'a', '--out', 'b'], '--out was given twice'],
    [['--out=a', '--out', 'a'], '--out was given twice'],
    [['--frobnicate'], 'unknown option --frobnicate (see tool --help)'],
    [['--frobnicate=1'], 'unknown option --frobnicate=1 (see tool --help)'],
    // Only long flags take `=`: `-h=1` is not -h.
    [['-h=1'], 'unknown option -h=1 (see tool --help)'],
    [['-x'], 'unknown option -x (see tool --help)'],
    // A switch takes no value: `--json=false` must not quietly mean --json.
    [['--json=false'], '--json takes no value (drop "=false")'],
    [['--json='], '--json takes no value (drop "=")'],
  ])('refuses %j with UsageError', (argv, message) => {
    expect(() => parseFlags(argv, TABLE)).toThrow(UsageError);
    expect(() => parseFlags(argv, TABLE)).toThrow(new UsageError(message));
  });
});

describe('asUsage', () => {
  it('passes the check\'s result through, and turns its TypeError or RangeError into a UsageError with the same message', () => {
    expect(asUsage(() => 3)).toBe(3);
    const range = () => asUsage(() => { throw new RangeError('--steps must be an integer from 1 to 1000; got 0'); });
    expect(range).toThrow(UsageError);
    expect(range).toThrow(new UsageError('--steps must be an integer from 1 to 1000; got 0'));
  });
});
