// A user's transform in plain JavaScript: synth bundles it into the crm consumer only. The marker
// lets the pack test find it in that bundle and in no other.
const transform = (event) => ({ body: event.op === 'upsert' ? { marker: 'pack-test-transform', ...event.payload } : undefined });
export default transform;
