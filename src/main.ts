import { failedToStart, serve } from './serve.js';

/** Process entry (the image runs `node dist/main.js`): `npm start -- --config FILE`. `switchyard serve` is the same. */
serve(process.argv.slice(2)).catch(failedToStart);
