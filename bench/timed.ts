// A command run to its end with its wall time and peak RSS: the replay
// bench's CLI runs and CrowdSec's one-shot runs (bench/replay-crowdsec.ts).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface Timed {
  /** wall time, ms */
  ms: number;
  /** peak RSS of the process, MB (undefined when it could not be read) */
  rssMb: number | undefined;
  stdout: string;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Run a command to its end: wall time and peak RSS. The peak is GNU time's
 * (`-f %M`, exact) when installed, else the last VmHWM read from
 * /proc/<pid>/status while it runs (VmHWM only grows, so this misses at most
 * the last 50 ms).
 */
export function timed(cmd: string, args: readonly string[], o: { dir: string; quietStderr?: boolean; timeoutMs?: number }): Promise<Timed> {
  const withTime = existsSync(GNU_TIME);
  const rssFile = path.join(o.dir, `rss-${process.hrtime.bigint()}.txt`);
  const [file, argv] = withTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(file, argv, { stdio: ['ignore', 'pipe', o.quietStderr ? 'pipe' : 'inherit'] });
    let out = '';
    let err = '';
    let hwmKb: number | undefined;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        if (m) hwmKb = Number(m[1]);
      } catch {
        // gone already
      }
    }, 50);
    // a run that hangs is ended (this process started it: by its pid)
    const deadline = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 15 * 60_000);
    p.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr?.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-4000)));
    p.on('error', (e) => {
      clearInterval(poll);
      clearTimeout(deadline);
      reject(e);
    });
    p.on('close', (code) => {
      clearInterval(poll);
      clearTimeout(deadline);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0)
        return reject(
          new Error(`${path.basename(cmd)} exited with ${code}${err ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`),
        );
      let kb = withTime ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : hwmKb;
      if (kb !== undefined && !Number.isFinite(kb)) kb = undefined;
      resolve({ ms, rssMb: kb === undefined ? undefined : kb / 1024, stdout: out });
    });
  });
}
