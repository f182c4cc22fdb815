// GET /v1/settings (read token): the detection settings in force, per service
// with records, and the defaults for services without settings. Read-only;
// the findings page states each finding's rule with these figures.
import type { FastifyPluginAsync } from 'fastify';
import { bearer } from '../auth';
import type { Config } from '../config';
import type { SiemState } from '../state/state';

export interface SettingsDeps {
  config: Pick<Readonly<Config>, 'readToken' | 'defaults'>;
  state: Pick<SiemState, 'gauges' | 'settingsOf'>;
}

export const settingsRoutes: FastifyPluginAsync<SettingsDeps> = async (app, deps) => {
  app.get('/v1/settings', { onRequest: bearer(deps.config.readToken) }, async () => {
    const services: Record<string, unknown> = {};
    for (const s of (await deps.state.gauges()).services) services[s.service] = deps.state.settingsOf(s.service);
    // Settings come from batches (SIEM_SETTINGS=batch, the contract's default).
    return { source: 'batch', defaults: deps.config.defaults, services };
  });
};
