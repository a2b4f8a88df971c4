/**
 * What this process was started with, as both sides of a pool read it: the directory it started
 * in (a later `process.chdir` moves only the current one) and NODE_OPTIONS, split as Node splits it.
 */

/** The current directory, or undefined when it was removed (process.cwd() throws then). */
export function currentDir(): string | undefined {
  try {
    return process.cwd();
  } catch {
    return undefined;
  }
}

/**
 * The directory current when this module loaded: the one the process's relative and bare preloads
 * (`--import tsx`) were resolved from, as near as a module can know it.
 */
export const START_DIR = currentDir();

/**
 * NODE_OPTIONS split as Node splits it: on spaces (U+0020 only) outside double quotes, where a
 * backslash escapes the next character. `raw` is the token as written, `value` as Node reads it.
 */
export function nodeOptionTokens(text: string): { raw: string; value: string }[] {
  const tokens = text.match(/(?:[^ "]+|"(?:[^"\\]|\\.)*"?)+/g) ?? [];
  return tokens.map((raw) => ({
    raw,
    value: raw.replace(/"((?:[^"\\]|\\.)*)"?/g, (_, q: string) => q.replace(/\\(.)/g, '$1')),
  }));
}
