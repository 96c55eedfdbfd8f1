/**
 * What an upstream stream event means for the commit point (reliability.md §2.2):
 * - content: the answer has started (text, tool call or thinking); the stream may be committed;
 * - finish: the answer's finish reason; also commits (an empty answer is still an answer);
 * - terminal: the protocol's end marker (`[DONE]`, `message_stop`);
 * - error: an in-band error event;
 * - noise: pings, role-only or empty deltas, metadata; forwarded but never a reason to commit.
 */
export type EventMeaning = 'content' | 'finish' | 'terminal' | 'error' | 'noise';

/** A provider's own error description, before it is sanitised for a client. */
export interface ProviderErrorInfo {
  type: string | undefined;
  code: string | undefined;
  message: string | undefined;
}
