/**
 * A fixed-capacity ring of items numbered 1, 2, 3 … in push order (the live feed's
 * replay buffer, src/admin/feed.ts). Pushing past capacity evicts the oldest; lookups by number are O(1).
 */
export class RingBuffer<T> {
  private readonly items: Array<T | undefined>;
  /** Number of the oldest item still held (== next when empty). */
  private first = 1;
  /** Number the next push gets. */
  private next = 1;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.items = new Array<T | undefined>(capacity);
  }

  /** Add `item`; returns its number. */
  push(item: T): number {
    const seq = this.next++;
    this.items[seq % this.capacity] = item;
    if (this.next - this.first > this.capacity) this.first = this.next - this.capacity;
    return seq;
  }

  /** The item numbered `seq`, or undefined if it was evicted or not pushed yet. */
  get(seq: number): T | undefined {
    if (seq < this.first || seq >= this.next) return undefined;
    return this.items[seq % this.capacity];
  }

  /** Number of the oldest item held; `lastSeq + 1` when empty. */
  get oldestSeq(): number {
    return this.first;
  }

  /** Number of the newest item; 0 before the first push. */
  get lastSeq(): number {
    return this.next - 1;
  }

  get size(): number {
    return this.next - this.first;
  }
}
