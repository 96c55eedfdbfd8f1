import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { renderError } from '../errors/format.js';
import { GatewayError } from '../errors/gateway-error.js';
import { callerDialect } from './dialect.js';

const KNOWN_PATHS: Record<string, string[]> = {
  '/v1/chat/completions': ['POST'],
  '/v1/messages': ['POST'],
  '/v1/messages/count_tokens': ['POST'],
  '/v1/models': ['GET'],
  '/status': ['GET'],
  '/metrics': ['GET'],
  '/status/events': ['GET'],
  '/status/ui': ['GET'],
  '/healthz': ['GET'],
  '/readyz': ['GET'],
};

/** fastify's own errors (body parsing, limits) → the gateway's codes. */
function fromFastify(error: FastifyError): GatewayError {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('GW_ERR_REQ_BODY_TOO_LARGE', 'the request body is larger than the gateway accepts (server.bodyLimitBytes)');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('GW_ERR_REQ_UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('GW_ERR_REQ_INVALID_JSON', 'the request body is empty; a JSON object is required');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new GatewayError('GW_ERR_REQ_INVALID_JSON', 'the request body is not valid JSON');
    default:
      if (error instanceof SyntaxError || error.statusCode === 400) return new GatewayError('GW_ERR_REQ_INVALID_JSON', 'the request body is not valid JSON');
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        return new GatewayError('GW_ERR_REQ_INVALID', 'the request could not be read', { status: error.statusCode });
      }
      return new GatewayError('GW_ERR_INTERNAL', 'internal gateway error', { cause: error });
  }
}

function send(request: FastifyRequest, reply: FastifyReply, error: GatewayError): void {
  const rendered = renderError(callerDialect(request), error, request.id);
  void reply.code(rendered.status).headers({ ...error.headers, 'content-type': 'application/json' }).send(rendered.body);
}

/** Every error leaves in the caller's dialect, with a stable code and nothing internal in it. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | GatewayError, request, reply) => {
    const gatewayError = error instanceof GatewayError ? error : fromFastify(error);
    if (gatewayError.code === 'GW_ERR_INTERNAL') request.log.error({ err: error }, 'unhandled error');
    else request.log.info({ errCode: gatewayError.code, status: gatewayError.status, consumer: request.consumer?.name }, 'request rejected');
    send(request, reply, gatewayError);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = KNOWN_PATHS[path];
    if (allowed) {
      void reply.header('allow', allowed.join(', '));
      send(request, reply, new GatewayError('GW_ERR_REQ_METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; use ${allowed.join(' or ')}`));
      return;
    }
    send(request, reply, new GatewayError('GW_ERR_REQ_NOT_FOUND', `no endpoint ${request.method} ${path}`));
  });
}
