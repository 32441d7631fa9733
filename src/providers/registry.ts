/**
 * Which provider speaks to an upstream, and where its API lives. Adding a provider is one folder
 * under src/providers/ and one line in `PROVIDERS`. Pure.
 */
import { DEFAULT_BASE_URLS } from '../config/upstreams-schema.js';
import type { UpstreamConfig } from '../config/schema.js';
import { anthropicProvider } from './anthropic/index.js';
import { geminiProvider } from './gemini/index.js';
import { openaiProvider } from './openai.js';
import type { ChatProvider, ProviderName } from './types.js';

const PROVIDERS: { readonly [K in ProviderName]: ChatProvider } = {
  openai: openaiProvider,
  anthropic: anthropicProvider,
  gemini: geminiProvider,
};

/** The wire format an upstream speaks: its type, or for the simulator the format it simulates. */
export function providerName(u: UpstreamConfig): ProviderName {
  return u.type === 'sim' ? u.sim.api : u.type;
}

/** The provider for an upstream. */
export function providerOf(u: UpstreamConfig): ChatProvider {
  return PROVIDERS[providerName(u)];
}

/**
 * The upstream's base URL, without a trailing slash: the configured one, else the provider's own
 * default; for the in-process simulator, where it serves that format (src/sim/route.ts).
 */
export function baseUrlOf(u: UpstreamConfig): string {
  if (u.type === 'sim') return SIM_BASES[u.sim.api];
  return (u.baseUrl || DEFAULT_BASE_URLS[u.type]).replace(/\/+$/, '');
}

const SIM_BASES: { readonly [K in ProviderName]: string } = {
  openai: 'http://sim.local/v1',
  anthropic: 'http://sim.local/anthropic',
  gemini: 'http://sim.local/gemini/v1beta',
};
