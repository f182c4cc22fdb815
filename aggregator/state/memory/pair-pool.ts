// Storage of the in-memory state's credential-IP pairs: one Float64Array
// for every credential of a state, cut into runs of 2^k pairs (a pair is two
// numbers: the IPv4 address or -1, and the newest ts). A credential's pairs
// sit in one run, which it trades for one twice as large when it fills.
//
// Own code rather than two number arrays per credential: a record's pair
// lookup then costs the credential's CredentialIps object and one run of
// this array, two cache misses where the arrays cost four or five (each
// array object, then its elements). With hundreds of thousands of keys
// every one of them is a miss.
//
// Runs given back serve only their own class, so traffic whose credentials
// change size over time could leave most of the array in free runs. The
// state compacts the pool (its sweep) once the pairs handed out are more
// than twice those in use: memory stays bounded by the pairs held, as the
// byte budget (key-budget.ts) assumes.

/** runs of 2^k pairs for k up to here (SCAN_MAX = 2^MAX_CLASS pairs; beyond, a Map) */
export const MAX_CLASS = 7;

export class PairPool {
  /** [address or -1, ts] per pair; replaced by a larger copy as the pool grows */
  a = new Float64Array(2 * 1024);
  /** pairs handed out at least once (runs are taken from the end) */
  #top = 0;
  /** per class k, the start (in pairs) of runs given back */
  readonly #free: number[][] = Array.from({ length: MAX_CLASS + 1 }, () => []);

  /** pairs in runs handed out and not given back */
  #used = 0;
  /** the array before a compaction, while runs move out of it */
  #old: Float64Array | undefined;

  /** A run of 2^k pairs; returns its first pair. */
  alloc(k: number): number {
    this.#used += 1 << k;
    const back = this.#free[k] as number[];
    if (back.length > 0) return back.pop() as number;
    const at = this.#top;
    const need = 2 * (at + (1 << k));
    if (need > this.a.length) {
      const grown = new Float64Array(Math.max(need, 2 * Math.ceil((this.a.length * 1.5) / 2)));
      grown.set(this.a);
      this.a = grown;
    }
    this.#top = at + (1 << k);
    return at;
  }

  /** Give back the run of 2^k pairs starting at pair `at`. */
  free(at: number, k: number): void {
    this.#used -= 1 << k;
    (this.#free[k] as number[]).push(at);
  }

  /** Whether free runs hold more than the runs in use (and more than a few thousand pairs). */
  get wasteful(): boolean {
    return this.#top > 2 * this.#used + 4096;
  }

  /**
   * Start a compaction: a fresh array sized for the runs in use, no free
   * runs. Every run in use must then be moved with place() before end().
   */
  beginCompaction(): void {
    this.#old = this.a;
    this.a = new Float64Array(2 * Math.max(1024, Math.ceil(this.#used * 1.5)));
    this.#top = 0;
    this.#used = 0;
    for (const back of this.#free) back.length = 0;
  }

  /** Move the run of 2^k pairs at `at` of the old array into the new one; returns where it now starts. */
  place(at: number, k: number): number {
    const old = this.#old as Float64Array;
    const to = this.alloc(k);
    this.a.set(old.subarray(2 * at, 2 * (at + (1 << k))), 2 * to);
    return to;
  }

  endCompaction(): void {
    this.#old = undefined;
  }

  /** bytes held by the array (for measurements) */
  get bytes(): number {
    return this.a.byteLength;
  }
}
