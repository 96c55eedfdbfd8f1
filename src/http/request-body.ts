import { GatewayError } from '../errors/gateway-error.js';

/**
 * The requested model name reaches response headers (`x-switchyard-target` of a pass-through
 * target) and log lines: control characters there would be header injection or a 500 from Node.
 */
const MODEL_NAME = /^[\x21-\x7e]{1,256}$/;

export interface CompletionBody {
  body: Record<string, unknown>;
  model: string;
  stream: boolean;
}

/** The minimal shape both dialects share; everything else is the provider's to judge. */
export function checkCompletionBody(body: unknown): CompletionBody {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('GW_ERR_REQ_INVALID', 'the request body must be a JSON object');
  }
  const record = body as Record<string, unknown>;
  if (typeof record.model !== 'string' || record.model.trim() === '') {
    throw new GatewayError('GW_ERR_REQ_INVALID', '`model` is required and must be a non-empty string');
  }
  if (!MODEL_NAME.test(record.model)) {
    throw new GatewayError('GW_ERR_REQ_INVALID', '`model` must be at most 256 visible ASCII characters, without spaces or control characters');
  }
  if (!Array.isArray(record.messages)) {
    throw new GatewayError('GW_ERR_REQ_INVALID', '`messages` is required and must be an array');
  }
  if (record.stream !== undefined && record.stream !== null && typeof record.stream !== 'boolean') {
    throw new GatewayError('GW_ERR_REQ_INVALID', '`stream` must be a boolean');
  }
  return { body: record, model: record.model, stream: record.stream === true };
}
