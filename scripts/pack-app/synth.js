// A user's CDK app: the construct and the config loader from the installed package, the cdk-nag
// checks on, bundling on (so the consumer entry the package ships must resolve and bundle from
// node_modules with the app's esbuild).
import { App, Stack } from 'aws-cdk-lib';
import { applyNagChecks, SyncPipeline } from 'sync-pipeline';
import { loadPipelineConfig } from 'sync-pipeline/config';

const app = new App({ outdir: 'cdk.out' });
const pipeline = new SyncPipeline(new Stack(app, 'PackTest'), 'Pipeline', { config: loadPipelineConfig('sync-pipeline.json') });
applyNagChecks(app);
app.synth();
process.stdout.write(`${JSON.stringify({ destinations: [...pipeline.destinations.keys()] })}\n`);
