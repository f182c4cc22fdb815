// The first `k` of many items in an order, without sorting them all: a
// findings cut at SIEM_MAX_FINDINGS through a tie of 200,000 entities (a
// shape anyone who can post records can make) costs one pass, not a sort of
// every finding. Hand-written: a bounded binary heap is a dozen lines, and the
// heap packages on the registry sort or allocate per item.

/** The `k` first of `items` in `order` (a comparator), in that order. */
export function firstK<T>(items: readonly T[], k: number, order: (a: T, b: T) => number): T[] {
  if (items.length <= k) return [...items].sort(order);
  const cut = new FirstK(k, order);
  for (const x of items) cut.push(x);
  return cut.take();
}

/**
 * firstK fed one item at a time: a caller reading items in parts (Redis's
 * findings, a part of the candidates at a time) keeps `k` of them, not all.
 */
export class FirstK<T> {
  /** a max-heap of the k first seen so far: its root is the last of them */
  readonly #heap: T[] = [];

  constructor(
    private readonly k: number,
    private readonly order: (a: T, b: T) => number,
  ) {}

  push(x: T): void {
    const heap = this.#heap;
    const order = this.order;
    if (heap.length < this.k) {
      heap.push(x);
      for (let at = heap.length - 1; at > 0; ) {
        const up = (at - 1) >> 1;
        if (order(heap[up] as T, heap[at] as T) >= 0) break;
        [heap[at], heap[up]] = [heap[up] as T, heap[at] as T];
        at = up;
      }
    } else if (heap.length > 0 && order(x, heap[0] as T) < 0) {
      heap[0] = x;
      this.#sink(0);
    }
  }

  /** The items kept, in order (the cut is spent). */
  take(): T[] {
    return this.#heap.sort(this.order);
  }

  #sink(at: number): void {
    const heap = this.#heap;
    for (;;) {
      const l = 2 * at + 1;
      let top = at;
      if (l < heap.length && this.order(heap[top] as T, heap[l] as T) < 0) top = l;
      if (l + 1 < heap.length && this.order(heap[top] as T, heap[l + 1] as T) < 0) top = l + 1;
      if (top === at) return;
      [heap[at], heap[top]] = [heap[top] as T, heap[at] as T];
      at = top;
    }
  }
}
