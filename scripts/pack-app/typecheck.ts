// A user's TypeScript against the package's declarations (the `types` conditions of its exports).
// Never run: the pack test type-checks it with `tsc`. The @ts-expect-error lines fail the check
// if the declarations were missing or `any`.
import { App, Stack } from 'aws-cdk-lib';
import { SyncPipeline, type SyncPipelineProps } from 'sync-pipeline';
import { loadPipelineConfig, type PipelineConfig } from 'sync-pipeline/config';
import { parseChangeEvent, type ChangeEvent } from 'sync-pipeline/contract';
import { ValidationError } from 'sync-pipeline/contract/validation';
import { publishChanges } from 'sync-pipeline/publish';

const config: PipelineConfig = loadPipelineConfig('sync-pipeline.json');
const props: SyncPipelineProps = { config };
const pipeline = new SyncPipeline(new Stack(new App(), 'Typed'), 'Pipeline', props);
export const queueUrl: string | undefined = pipeline.destinations.get('crm')?.queue.queueUrl;

const parsed = parseChangeEvent('{}');
export const event: ChangeEvent | undefined = parsed.ok ? parsed.event : undefined;
export const isConfigError = (error: unknown): boolean => error instanceof ValidationError;
export const publish = publishChanges;

// @ts-expect-error a number is not a pipeline config
new SyncPipeline(new Stack(new App(), 'Untyped'), 'Pipeline', { config: 1 });
// @ts-expect-error a change event has no field `color`
export const wrong: ChangeEvent = { resourceType: 'contact', id: 'c-1', version: 1, occurredAt: '2026-11-27T10:00:00Z', op: 'upsert', payload: {}, color: 'red' };
