// A CommonJS app: require() of the ESM package (Node >= 22.12 loads ESM without top-level await this way).
const { SyncPipeline } = require('sync-pipeline');
const { loadPipelineConfig } = require('sync-pipeline/config');
const { parseChangeEvent } = require('sync-pipeline/contract');
const { publishChanges } = require('sync-pipeline/publish');

process.stdout.write(`${JSON.stringify([SyncPipeline, loadPipelineConfig, parseChangeEvent, publishChanges].map((value) => typeof value))}\n`);
