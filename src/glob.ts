/**
 * Model-name globs as config writes them (`sim-*`, `*`, `gpt-4o?`): `*` matches any run of
 * characters (also none), `?` exactly one; everything else is literal. Whole-name matches only.
 */

/** Compile a glob into an anchored RegExp. */
export function compileGlob(glob: string): RegExp {
  let src = '';
  for (const ch of glob) {
    if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    else src += ch.replace(/[\\^$.|+()[\]{}\/]/g, '\\$&');
  }
  return new RegExp(`^${src}$`, 'su');
}

/** Does `name` match `glob`? (Compiles each call; hot paths keep the result of {@link compileGlob}.) */
export function matchesGlob(glob: string, name: string): boolean {
  return compileGlob(glob).test(name);
}
