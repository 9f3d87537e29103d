/**
 * Option objects of the public API: one describer for values in messages, one check that an
 * options argument is an object holding only known names (tfjs-layers and tfmot take keyword
 * arguments; a misspelt or snake_case name must not be ignored silently).
 */

/** A value as an error message shows it: strings quoted, objects by class name. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return JSON.stringify(value) ?? 'an array';
  if (typeof value !== 'object' && typeof value !== 'function') return String(value);
  const ctor = (value as object).constructor as {className?: string, name?: string}|undefined;
  return ctor?.className ?? ctor?.name ?? 'object';
}

/**
 * Checks that `options` is undefined or a plain object whose keys are all in `names`, and returns
 * it (`{}` for undefined).
 * @param owner the function or class, as messages name it.
 * @throws Error `<owner> options must be an object {a, b}, but got <value>` or
 *     `<owner> got an unknown option '<key>'; valid options are a, b`.
 */
export function checkOptions<T extends object>(options: T|undefined, names: readonly string[], owner: string): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`${owner} options must be an object {${names.join(', ')}}, but got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!names.includes(key)) {
      throw new Error(`${owner} got an unknown option '${key}'; valid options are ${names.join(', ')}`);
    }
  }
  return options;
}

/**
 * Checks an optional boolean option.
 * @throws Error `<owner>: <name> must be true or false, but got <value>`.
 */
export function booleanOption(value: unknown, name: string, owner: string): boolean|undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new Error(`${owner}: ${name} must be true or false, but got ${describeValue(value)}`);
}
