/**
 * The one rule for OpenAI parameters a provider is sent (README "Claude and Gemini"): a parameter
 * its table does not list is refused, never dropped; a `refused` one passes only with a value that
 * asks for OpenAI's default behaviour; null is the same as absent. Pure.
 */
import { InvalidRequestError } from '../errors.js';
import { refuseUnlessDefault } from './content.js';
import type { ChatBody, ParameterSupport } from './types.js';

export function checkParameters(
  body: ChatBody,
  table: Readonly<Record<string, ParameterSupport>>,
  defaults: Readonly<Record<string, readonly unknown[]>>,
  provider: string,
): void {
  for (const name of Object.keys(body)) {
    if (body[name] === null || body[name] === undefined) continue;
    // Own keys only: a body key such as "constructor" must not read Object.prototype.
    if (!Object.hasOwn(table, name)) {
      throw new InvalidRequestError(`The parameter "${name}" is not supported by ${provider} upstreams; leave it out or route this model to another upstream.`, {
        param: name,
        code: 'unsupported_parameter',
      });
    }
    if (table[name]!.support === 'refused') refuseUnlessDefault(body, name, provider, ...(Object.hasOwn(defaults, name) ? defaults[name]! : []));
  }
}
