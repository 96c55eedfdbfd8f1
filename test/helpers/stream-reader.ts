/** Incremental reader of a response body, to follow a stream in lockstep with the upstream. */
export function reader(body: AsyncIterable<Uint8Array>) {
  const it = body[Symbol.asyncIterator]();
  const decoder = new TextDecoder();
  let buffered = '';
  let all = '';
  return {
    async until(marker: string): Promise<string> {
      while (!buffered.includes(marker)) {
        const { value, done } = await it.next();
        if (done) throw new Error(`stream ended before ${JSON.stringify(marker)}; got ${JSON.stringify(buffered)}`);
        const text = decoder.decode(value, { stream: true });
        buffered += text;
        all += text;
      }
      const end = buffered.indexOf(marker) + marker.length;
      const out = buffered.slice(0, end);
      buffered = buffered.slice(end);
      return out;
    },
    async rest(): Promise<string> {
      for (;;) {
        const { value, done } = await it.next();
        if (done) {
          const out = buffered + decoder.decode();
          all += decoder.decode();
          buffered = '';
          return out;
        }
        const text = decoder.decode(value, { stream: true });
        buffered += text;
        all += text;
      }
    },
    /** Everything read so far. */
    get all() {
      return all;
    },
  };
}
