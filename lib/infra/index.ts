export { DestinationConsumer, type DestinationConsumerProps } from './destination-consumer.ts';
export { applyNagChecks } from './nag.ts';
export { SyncPipeline, type SyncPipelineDestination, type SyncPipelineProps } from './sync-pipeline.ts';
export { SyncPipelineStack, type SyncPipelineStackProps } from './sync-pipeline-stack.ts';
