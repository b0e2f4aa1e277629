// The official OpenAI Node SDK against a running ingest, as a customer's script would use it, unchanged.
// Run by OpenAiJavaClientTest (which plays the market: it completes the batch named on a CREATED line and
// puts the one named on a CANCEL line in progress). Prints one line per step; exits 1 on any mismatch.
// Env: INFEREX_BASE_URL (.../v1), INFEREX_KEY (a funded customer), INFEREX_BROKE_KEY (a customer without
// funds), INFEREX_INPUT (a JSONL batch file), INFEREX_LINES (its line count), INFEREX_PREFIX (its custom_id prefix).
import fs from 'node:fs';
import OpenAI from 'openai';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`missing ${name}`);
  return v;
};
const baseURL = env('INFEREX_BASE_URL');
const lines = Number(env('INFEREX_LINES'));
const prefix = env('INFEREX_PREFIX');
const client = new OpenAI({ apiKey: env('INFEREX_KEY'), baseURL, maxRetries: 0, timeout: 20_000 });
const broke = new OpenAI({ apiKey: env('INFEREX_BROKE_KEY'), baseURL, maxRetries: 0, timeout: 20_000 });

function check(ok, what) {
  if (!ok) {
    console.log(`FAIL ${what}`);
    process.exit(1);
  }
}

async function poll(id, done, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let b = await client.batches.retrieve(id);
  while (!done(b) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    b = await client.batches.retrieve(id);
  }
  return b;
}

async function main() {
  const file = await client.files.create({ file: fs.createReadStream(env('INFEREX_INPUT')), purpose: 'batch' });
  check(file.object === 'file' && file.purpose === 'batch' && file.id.startsWith('file-'), `uploaded ${JSON.stringify(file)}`);
  console.log(`UPLOADED ${file.id}`);

  const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
  check(batch.status === 'validating' && batch.request_counts.total === lines, `created ${JSON.stringify(batch)}`);
  console.log(`CREATED ${batch.id}`);

  const done = await poll(batch.id, (b) => b.status === 'completed', 20_000);
  check(done.status === 'completed' && done.output_file_id, `completed ${JSON.stringify(done)}`);
  const content = await client.files.content(done.output_file_id); // a fetch Response; the SDK sends Accept: application/binary
  const text = await content.text();
  const out = text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  check(out.length === lines, `${out.length} output lines`);
  out.forEach((l, i) => {
    check(l.custom_id === `${prefix}-${i + 1}`, `line ${i + 1} is ${l.custom_id}`);
    check(l.response.status_code === 200 && l.response.body.data[0].embedding.length === 384, `line ${i + 1} embedding`);
  });
  console.log(`DOWNLOADED ${out.length} lines ${out[0].custom_id}..${out[out.length - 1].custom_id}`);

  const second = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
  console.log(`CANCEL ${second.id}`);
  const cancelled = await client.batches.cancel(second.id);
  check(cancelled.id === second.id && cancelled.status === 'cancelling', `cancel ${JSON.stringify(cancelled)}`);
  console.log(`CANCELLED ${cancelled.id} status=${cancelled.status}`);

  const poorFile = await broke.files.create({ file: fs.createReadStream(env('INFEREX_INPUT')), purpose: 'batch' });
  try {
    await broke.batches.create({ input_file_id: poorFile.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    check(false, 'a batch without funds was created');
  } catch (e) {
    check(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
    console.log(`REFUSED status=${e.status} code=${e.code} type=${e.type} message=${e.message}`);
  }
  try {
    await client.batches.retrieve('batch_nope');
    check(false, 'an unknown batch was found');
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError, `not a NotFoundError: ${e}`);
    console.log(`NOTFOUND status=${e.status}`);
  }
  console.log('OK');
}

main().catch((e) => {
  console.log(`FAIL ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
