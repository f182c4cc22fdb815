// Replay progress on stderr: a bar (cli-progress) when stderr is a terminal,
// plain lines every few seconds otherwise (CI logs, pipes), nothing when quiet.
// Stdout stays for the report.
import { SingleBar } from 'cli-progress';
import type { ReplayProgress } from './replay';

export interface Progress {
  update(p: ReplayProgress): void;
  /** make way for a message on the same stream */
  interrupt(): void;
  /** the run ended: remove the bar, or print a last plain line */
  done(p: ReplayProgress): void;
}

const PLAIN_EVERY_MS = 2000;

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

function rate(records: number, sinceMs: number): number {
  const s = (Date.now() - sinceMs) / 1000;
  return s > 0 ? Math.round(records / s) : 0;
}

export function createProgress(mode: 'bar' | 'plain' | 'none', stream: NodeJS.WriteStream = process.stderr): Progress {
  const started = Date.now();
  if (mode === 'none') return { update() {}, interrupt() {}, done() {} };
  if (mode === 'plain') {
    let last = started;
    const line = (p: ReplayProgress, now: number, final: boolean) => {
      let text = `kong-siem replay: ${p.lines} lines, ${p.records} records, ${rate(p.records, started)} records/s`;
      if (p.totalBytes) {
        const done = p.bytes / p.totalBytes;
        text += `, ${mb(p.bytes)} of ${mb(p.totalBytes)} (${Math.floor(done * 100)}%)`;
        if (!final && done > 0) text += `, ETA ${Math.round(((now - started) / 1000) * ((1 - done) / done))}s`;
      }
      return final ? `${text}, done` : text;
    };
    return {
      update(p) {
        const now = Date.now();
        if (now - last < PLAIN_EVERY_MS) return;
        last = now;
        stream.write(`${line(p, now, false)}\n`);
      },
      interrupt() {},
      done(p) {
        stream.write(`${line(p, Date.now(), true)}\n`);
      },
    };
  }
  // The bar runs on bytes read (known up front) and shows records/s beside;
  // reading stdin, the size is unknown: no bar, no ETA.
  let bar: SingleBar | undefined;
  const sized = (p: ReplayProgress) => p.totalBytes !== undefined && p.totalBytes > 0;
  return {
    update(p) {
      const payload = { records: p.records, rate: rate(p.records, started) };
      if (!bar) {
        const format = sized(p)
          ? 'replay [{bar}] {percentage}% | {records} records | {rate} records/s | ETA {eta_formatted}'
          : 'replay {records} records | {rate} records/s | {duration_formatted}';
        bar = new SingleBar({ format, stream, hideCursor: true, clearOnComplete: true, etaBuffer: 50, fps: 5 });
        bar.start(sized(p) ? (p.totalBytes as number) : 1, 0, payload);
      }
      bar.update(sized(p) ? p.bytes : 0, payload);
    },
    interrupt() {
      // the next update draws a new bar below the message
      bar?.stop();
      bar = undefined;
    },
    done() {
      bar?.stop();
      bar = undefined;
    },
  };
}
