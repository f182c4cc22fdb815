// CPU pinning with taskset (util-linux), so a server and its load generator
// do not share a core. Without taskset the bench runs unpinned and says so.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import os from 'node:os';

let cached: boolean | undefined;
export function hasTaskset(): boolean {
  cached ??= spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
  return cached;
}

/** Cores for [load generator, server]: distinct when there are two or more. */
// Read once, at load: after pinSelf this process itself sees one core.
const CORES = os.availableParallelism();

export function cores(): { client: number; server: number } {
  return CORES >= 2 ? { client: 0, server: 1 } : { client: 0, server: 0 };
}

export function coreCount(): number {
  return CORES;
}

export function pinSelf(core: number | string): boolean {
  return pinPid(process.pid, String(core));
}

/** Pin a running process (all its threads) to `cores` (e.g. "1" or "0-1"); false without taskset. */
export function pinPid(pid: number, cores: string): boolean {
  if (!hasTaskset()) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' }).status === 0;
}

/** Every core, as taskset writes a list ("0-1"). */
export function allCores(): string {
  return `0-${CORES - 1}`;
}

/**
 * Every core of the machine ("0-1"), whatever this process is pinned to: a
 * case child runs pinned to one core (and sees one), and what it spawns
 * inherits that; undefined without taskset or when taskset cannot widen it.
 */
export function machineCores(): { list: string; count: number } | undefined {
  const count = os.cpus().length;
  const list = `0-${count - 1}`;
  if (count < 2 || !hasTaskset()) return undefined;
  return spawnSync('taskset', ['-c', list, 'true'], { stdio: 'ignore' }).status === 0 ? { list, count } : undefined;
}

/** Spawn `node args` pinned to `core` (unpinned without taskset). */
export function spawnNode(core: number, args: string[], opts: SpawnOptions): ChildProcess {
  if (hasTaskset()) return spawn('taskset', ['-c', String(core), process.execPath, ...args], opts);
  return spawn(process.execPath, args, opts);
}
