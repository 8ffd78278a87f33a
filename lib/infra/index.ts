export {
  BreakerProbe,
  type BreakerProbeProps,
  EventSourceSwitch,
  type EventSourceSwitchProps,
} from './destination-breaker.ts';
export { archivedEvents, ChangeArchive, type ChangeArchiveProps, eventArchiveName } from './change-archive.ts';
export { DestinationConsumer, type DestinationConsumerProps } from './destination-consumer.ts';
export { boundedDescription, DescriptionLimit } from './descriptions.ts';
export { DestinationStack, type DestinationStackProps } from './destination-stack.ts';
export {
  alarmTopicName,
  dashboardName,
  DESTINATIONS_PER_DASHBOARD,
  DestinationAlarms,
  type DestinationAlarmsProps,
  DURATION_ALARM_SHARE_OF_TIMEOUT,
  type MonitoredDestination,
  PipelineAlarmTopic,
  type PipelineAlarmTopicProps,
  PipelineDashboards,
  type PipelineDashboardsProps,
} from './monitoring.ts';
export { applyNagChecks } from './nag.ts';
export {
  type ConsumerFunctionOverrides,
  type DestinationOverrides,
  type OverrideProps,
  type QueueOverrides,
  resolveOverrides,
} from './overrides.ts';
export {
  DestinationMetrics,
  type DestinationMetricsProps,
  METRIC_PERIOD,
  type PipelineMetricOptions,
} from './pipeline-metrics.ts';
export { SyncPipeline, type SyncPipelineDestination, type SyncPipelineProps } from './sync-pipeline.ts';
export { SyncPipelineStack, type SyncPipelineStackProps } from './sync-pipeline-stack.ts';
