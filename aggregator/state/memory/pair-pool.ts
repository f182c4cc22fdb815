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

/** runs of 2^k pairs for k up to here (SCAN_MAX = 2^MAX_CLASS pairs; beyond, a Map) */
export const MAX_CLASS = 7;

export class PairPool {
  /** [address or -1, ts] per pair; replaced by a larger copy as the pool grows */
  a = new Float64Array(2 * 1024);
  /** pairs handed out at least once (runs are taken from the end) */
  #top = 0;
  /** per class k, the start (in pairs) of runs given back */
  readonly #free: number[][] = Array.from({ length: MAX_CLASS + 1 }, () => []);

  /** A run of 2^k pairs; returns its first pair. */
  alloc(k: number): number {
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
    (this.#free[k] as number[]).push(at);
  }

  /** bytes held by the array (for measurements) */
  get bytes(): number {
    return this.a.byteLength;
  }
}
