export {
  BreakerProbe,
  type BreakerProbeProps,
  EventSourceSwitch,
  type EventSourceSwitchProps,
} from './destination-breaker.ts';
export { DestinationConsumer, type DestinationConsumerProps } from './destination-consumer.ts';
export {
  alarmTopicName,
  DestinationAlarms,
  type DestinationAlarmsProps,
  type MonitoredDestination,
  PipelineMonitoring,
  type PipelineMonitoringProps,
} from './monitoring.ts';
export { applyNagChecks } from './nag.ts';
export {
  DestinationMetrics,
  type DestinationMetricsProps,
  METRIC_PERIOD,
  type PipelineMetricOptions,
} from './pipeline-metrics.ts';
export { SyncPipeline, type SyncPipelineDestination, type SyncPipelineProps } from './sync-pipeline.ts';
export { SyncPipelineStack, type SyncPipelineStackProps } from './sync-pipeline-stack.ts';
