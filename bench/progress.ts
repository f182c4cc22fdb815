// Progress of long steps on stderr: a cli-progress bar on a terminal, a plain
// line every few seconds otherwise (CI logs). Stdout is the table.
import { SingleBar } from 'cli-progress';

export interface Step {
  tick(done: number, total: number): void;
  end(): void;
}

const PLAIN_EVERY_MS = 2000;

export function step(label: string, stream: NodeJS.WriteStream = process.stderr): Step {
  if (stream.isTTY) {
    let bar: SingleBar | undefined;
    return {
      tick(done, total) {
        if (!bar) {
          bar = new SingleBar({
            format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta}s`,
            stream,
            hideCursor: true,
            clearOnComplete: true,
            fps: 5,
          });
          bar.start(total, 0);
        }
        bar.update(done);
      },
      end() {
        bar?.stop();
        bar = undefined;
      },
    };
  }
  const started = Date.now();
  let last = 0;
  return {
    tick(done, total) {
      const now = Date.now();
      if (now - last < PLAIN_EVERY_MS) return;
      last = now;
      stream.write(`bench: ${label}: ${done}/${total} (${Math.floor((100 * done) / Math.max(1, total))}%)\n`);
    },
    end() {
      stream.write(`bench: ${label}: done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    },
  };
}

export function say(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}
