// A bounded FIFO of records that drops the oldest when full (as Kong's own
// Kong/kong kong/tools/queue.lua does with max_entries): new records tell more about an
// ongoing attack than old ones, and memory must stay bounded while the
// aggregator is away. Array plus head index: O(1) amortized push and take.

export class DropOldestBuffer<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #capacity: number;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Change the capacity; returns how many oldest items were dropped to fit. */
  resize(capacity: number): number {
    this.#capacity = Math.max(1, Math.floor(capacity));
    return this.#trim();
  }

  /** Append; returns how many oldest items were dropped to make room (0 or 1). */
  push(item: T): number {
    this.#items.push(item);
    return this.#trim();
  }

  /** Remove and return up to n oldest items. */
  take(n: number): T[] {
    const end = Math.min(this.#items.length, this.#head + n);
    const out = this.#items.slice(this.#head, end) as T[];
    for (let i = this.#head; i < end; i++) this.#items[i] = undefined;
    this.#head = end;
    this.#compact();
    return out;
  }

  /** How many of the oldest items, at most n and at least one (when any), take no more than `budget` by `size`. */
  countFitting(n: number, budget: number, size: (item: T) => number): number {
    const end = Math.min(this.#items.length, this.#head + n);
    let used = 0;
    for (let i = this.#head; i < end; i++) {
      used += size(this.#items[i] as T);
      if (used > budget) return Math.max(1, i - this.#head);
    }
    return end - this.#head;
  }

  /** Put items back in front (a batch that could not be delivered); returns how many oldest were dropped to fit. */
  putBack(items: readonly T[]): number {
    if (items.length === 0) return 0;
    this.#items = [...items, ...this.#items.slice(this.#head)];
    this.#head = 0;
    return this.#trim();
  }

  #trim(): number {
    const over = this.length - this.#capacity;
    if (over <= 0) return 0;
    for (let i = this.#head; i < this.#head + over; i++) this.#items[i] = undefined;
    this.#head += over;
    this.#compact();
    return over;
  }

  #compact(): void {
    // Reclaim the consumed prefix once it is both large and most of the array.
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
