/**
 * The tee of a resumable stream (README "Resumable streams"): every frame the caller gets is named
 * `id: <stream id>:<seq>` (the OpenAI SDKs ignore ids; a browser's EventSource sends the last one
 * back as `Last-Event-ID` when it reconnects) and kept in the stream's replay log
 * (src/streams/), the last one too, so a reader of GET /v1/streams/{id} gets exactly these bytes
 * (test/integration/resume.test.ts compares them byte for byte).
 *
 * A log that goes over its bounds stops being resumable; the live caller keeps getting the whole
 * stream, told once by a comment frame (`: stream-resume …`) where the log stopped.
 */
import { encodeComment, encodeRelayed } from '../sse/encoder.js';
import type { ReplayLog } from '../streams/types.js';
import type { Tee } from './stages.js';

export class ReplayTee implements Tee {
  private seq = 0;
  private stored = true;

  constructor(
    readonly streamId: string,
    private readonly log: ReplayLog,
    /** Told once when the log stops being resumable (a metric). */
    private readonly onOverflow: () => void,
  ) {}

  frame(payload: string, name: string | undefined): string {
    const seq = ++this.seq;
    const frame = encodeRelayed({ data: payload, event: name, id: `${this.streamId}:${seq}` });
    return this.keep(seq, frame);
  }

  last(payload: string): string {
    const seq = ++this.seq;
    const frame = encodeRelayed({ data: payload, id: `${this.streamId}:${seq}` });
    const out = this.keep(seq, frame);
    // Finished even when it overflowed: its retention starts now, and readers learn where it stopped.
    this.log.finish();
    return out;
  }

  private keep(seq: number, frame: string): string {
    if (!this.stored) return frame;
    if (this.log.append(seq, frame)) return frame;
    this.stored = false;
    this.onOverflow();
    return encodeComment(`stream-resume: this stream went over its replay limit after event ${seq - 1}; it cannot be resumed past that`) + frame;
  }
}
