import type { FastifyInstance } from 'fastify';
import { modelsVisibleTo } from '../auth/consumers.js';
import type { Runtime } from '../runtime.js';
import { callerDialect } from './dialect.js';

/** GET /v1/models: the routable names (those the caller's key may use), as an OpenAI list or, for Anthropic callers, an Anthropic one. */
export function registerModels(app: FastifyInstance, current: () => Runtime, startedAt: Date): void {
  app.get('/v1/models', async (request) => {
    const { table } = current();
    const names = request.consumer ? modelsVisibleTo(request.consumer, table) : table.names();
    if (callerDialect(request) === 'anthropic') {
      return {
        data: names.map((id) => ({ type: 'model', id, display_name: id, created_at: startedAt.toISOString() })),
        has_more: false,
        first_id: names[0] ?? null,
        last_id: names[names.length - 1] ?? null,
      };
    }
    const created = Math.floor(startedAt.getTime() / 1000);
    return { object: 'list', data: names.map((id) => ({ id, object: 'model', created, owned_by: 'switchyard' })) };
  });
}
