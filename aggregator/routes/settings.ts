// GET /v1/settings (read token): where settings come from, the defaults, and
// the detection settings in force per service with a place (with
// SIEM_SETTINGS=locked also every service of SIEM_SETTINGS_FILE). Read-only;
// the findings page states each finding's rule with these figures.
import type { FastifyPluginAsync } from 'fastify';
import { bearer } from '../auth';
import type { Config } from '../config';
import type { SiemState } from '../state/state';

export interface SettingsDeps {
  config: Pick<Readonly<Config>, 'readToken' | 'defaults' | 'settingsSource'>;
  state: Pick<SiemState, 'settingsInForce'>;
}

export const settingsRoutes: FastifyPluginAsync<SettingsDeps> = async (app, deps) => {
  app.get('/v1/settings', { onRequest: bearer(deps.config.readToken) }, async () => {
    const services = await deps.state.settingsInForce();
    return { source: deps.config.settingsSource, defaults: deps.config.defaults, services };
  });
};
