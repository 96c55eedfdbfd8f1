import type { DialectRules } from '../dialects/index.js';
import { bodyNaming } from './shared/splice-member.js';
import { withoutForeignThinking } from './shared/thinking-signature.js';
import type { StreamTranslator, Translator } from './types.js';

/**
 * Same dialect on both sides: the body goes as received (its model name spliced in when the target
 * calls another; re-serialised when gateway-made thinking must be kept from an endpoint that
 * validates signatures) and answers come back untouched, each stream event only re-framed by the dialect.
 */
export function passThrough(rules: DialectRules): Translator {
  const stream: StreamTranslator = {
    event: (event, parsed) => {
      const framed = rules.frame(event, parsed);
      return framed === undefined ? [] : [framed];
    },
    end: () => [rules.terminal],
  };
  return {
    begin(request, { upstreamModel, quirks }) {
      const messages = quirks.validatesThinkingSignatures && Array.isArray(request.body.messages) ? withoutForeignThinking(request.body.messages) : request.body.messages;
      return {
        body: messages === request.body.messages ? bodyNaming(upstreamModel, request.rawBody, request.body) : JSON.stringify({ ...request.body, model: upstreamModel, messages }),
        response: (upstreamBody) => upstreamBody,
        stream: () => stream,
      };
    },
  };
}

