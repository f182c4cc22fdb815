// JSON lines written straight into one reused byte buffer: a snapshot of a
// million keys made no string, array or object per key (the per-key garbage
// of JSON.stringify brought on collections of the large heap, which stalled
// ingest during a save). The bytes are exactly JSON.stringify's for the
// values written (integers, strings, with the same escapes), so a file reads
// back as before; test/unit/json-lines.test.ts holds it to that.
// Hand-written (no library): what is needed is a dozen lines per value type,
// and a streaming JSON serializer from npm builds strings per value.

/** bytes at most one escaped UTF-16 unit takes (\uXXXX) */
const ESCAPED_MAX = 6;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const DOT = 0x2e;
/** the decimal digits of a safe integer, at most */
const DIGITS_MAX = 17;

export class JsonLines {
  #buf: Buffer;
  #used = 0;
  #lineStart = 0;
  /** lines ended and kept */
  lines = 0;
  /** lines dropped by endLine: over `lineMax` bytes */
  oversized = 0;

  /**
   * `chunkBytes`: the buffer's size (it grows for a line longer than that
   * and is made afresh by clear()); `lineMax`: longer lines are dropped.
   */
  constructor(
    readonly chunkBytes: number,
    readonly lineMax: number,
  ) {
    this.#buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** Whole lines fill half the buffer: time to hand them over. */
  get full(): boolean {
    return this.#lineStart >= this.chunkBytes / 2;
  }

  /** The whole lines written since clear(), a view of the buffer: valid until the next write. */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#lineStart);
  }

  /** Drop the lines handed over (a line not ended is dropped too). */
  clear(): void {
    if (this.#buf.length > this.chunkBytes) this.#buf = Buffer.allocUnsafe(this.chunkBytes);
    this.#used = 0;
    this.#lineStart = 0;
  }

  #room(n: number): Buffer {
    const buf = this.#buf;
    if (this.#used + n <= buf.length) return buf;
    const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, this.#used + n));
    buf.copy(bigger, 0, 0, this.#used);
    this.#buf = bigger;
    return bigger;
  }

  /** One byte of JSON syntax: [ ] { } , : */
  byte(c: number): void {
    this.#room(1)[this.#used++] = c;
  }

  /** Bytes as they are (JSON written once, e.g. a service's name). */
  raw(b: Uint8Array): void {
    this.#room(b.length).set(b, this.#used);
    this.#used += b.length;
  }

  /** A number as JSON.stringify writes it: digits for a safe integer, else its text. */
  int(n: number): void {
    if (!Number.isSafeInteger(n)) {
      this.json(JSON.stringify(n));
      return;
    }
    const buf = this.#room(DIGITS_MAX + 1);
    if (n < 0) {
      buf[this.#used++] = 0x2d;
      n = -n;
    }
    let len = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
    let at = this.#used + len;
    this.#used = at;
    do {
      buf[--at] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
  }

  /** `s` from index `from` as a JSON string. */
  str(s: string, from = 0): void {
    const len = s.length - from;
    const buf = this.#room(len * ESCAPED_MAX + 2);
    let at = this.#used;
    buf[at++] = QUOTE;
    // the common case: printable ASCII with nothing to escape, a byte per unit
    for (let i = from; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) {
        this.json(JSON.stringify(from === 0 ? s : s.slice(from)));
        return;
      }
      buf[at++] = c;
    }
    buf[at++] = QUOTE;
    this.#used = at;
  }

  /** An IPv4 address (a 32-bit number) as a JSON string of its dotted quad. */
  ipv4(n: number): void {
    this.byte(QUOTE);
    this.int(Math.floor(n / 16777216));
    this.byte(DOT);
    this.int(Math.floor(n / 65536) & 255);
    this.byte(DOT);
    this.int(Math.floor(n / 256) & 255);
    this.byte(DOT);
    this.int(n & 255);
    this.byte(QUOTE);
  }

  /** Text that is JSON already (here: for non-ASCII, escapes, non-integers), as UTF-8. */
  json(t: string): void {
    const buf = this.#room(t.length * 3);
    this.#used += buf.write(t, this.#used, 'utf8');
  }

  /** End the line: kept (true), or dropped whole when over lineMax bytes. */
  endLine(): boolean {
    if (this.#used - this.#lineStart > this.lineMax) {
      this.#used = this.#lineStart;
      this.oversized++;
      return false;
    }
    this.byte(NEWLINE);
    this.#lineStart = this.#used;
    this.lines++;
    return true;
  }
}
