// Chooses the state backend from SIEM_STATE.
import type { Config } from '../config';
import type { Clock } from '../clock';
import { MemoryState } from './memory-state';
import type { SiemState } from './state';

export function createState(config: Readonly<Config>, clock: Clock, onEvict: (table: 'ip' | 'credential') => void): SiemState {
  if (config.state !== 'memory') {
    throw new Error(`SIEM_STATE=${config.state}: shared state is not available in this build`);
  }
  return new MemoryState({
    clock,
    defaults: config.defaults,
    maxKeys: config.maxKeys,
    maxServices: config.maxServices,
    maxFindings: config.maxFindings,
    credentialMaxIps: config.credentialMaxIps,
    onEvict,
  });
}
