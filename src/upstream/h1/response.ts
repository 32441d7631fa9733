/**
 * The response the proxy's HTTP/1.1 client hands to its caller (src/upstream/h1/call.ts makes
 * one per response head): status, headers, and the body, as a Readable or taken directly.
 */
import type { Readable } from 'node:stream';
import type { BodySink, DirectBody, UpstreamHeaders, UpstreamResponse } from '../transport.js';

/** Where a response's body comes from: its call (src/upstream/h1/call.ts). */
export interface ResponseBodySource {
  /** The body as a Readable (made on first use; not once it was taken directly). */
  readable(): Readable;
  /** Hand the body to `sink` from now on; null if a Readable has it already, or it was taken. */
  takeDirect(sink: BodySink): DirectBody | null;
}

/**
 * The response handed to the caller. Its body is made on first use: a relay that takes it with
 * `direct` never has a Readable (~1.5 KB of heap per open stream in bench/heap.ts, and the per-read
 * stream machinery, see {@link BodySink}).
 */
export class H1Response implements UpstreamResponse {
  readonly ok: boolean;

  constructor(
    readonly status: number,
    readonly headers: UpstreamHeaders,
    private readonly call: ResponseBodySource,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  get body(): Readable {
    return this.call.readable();
  }

  direct(sink: BodySink): DirectBody | null {
    return this.call.takeDirect(sink);
  }
}
