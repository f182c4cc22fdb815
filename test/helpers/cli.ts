// Run the compiled CLI as a child process, the way a user would.
import { spawn } from 'node:child_process';
import path from 'node:path';

export const CLI = path.resolve(__dirname, '../../cli/index.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI with a clean SIEM_* environment; killed if it outlives `deadlineMs` (a hang guard, not a timing assertion). */
export function runCli(
  args: string[],
  o: { input?: string | Buffer; env?: Record<string, string>; deadlineMs?: number } = {},
): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SIEM_')) env[k] = v;
  Object.assign(env, o.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.deadlineMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(o.input);
  });
}
