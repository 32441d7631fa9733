import type { ServerResponse } from 'node:http';

/**
 * node:http keeps the head it wrote (`_header`) for the life of the response, as the tree of ~30
 * string concatenations that built it: ~1 KB of heap per open stream (bench/heap.ts --snapshot).
 * Reading a character of it makes V8 flatten the tree in place into one string, and the
 * pieces go. Only a read: if a node version keeps no such string, nothing happens.
 */
export function flattenHead(res: ServerResponse): void {
  const head: unknown = (res as { _header?: unknown })._header;
  if (typeof head === 'string') head.charCodeAt(head.length >> 1);
}
