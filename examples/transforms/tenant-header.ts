import type { Transform } from '../../lib/core/plugins.ts';

/**
 * A transform that leaves the body as published and adds a header of its own: the smallest real
 * use (an API that wants the tenant on every call). Its config: `"transform": "./examples/transforms/tenant-header.ts"`.
 */
const transform: Transform = (event) => ({ headers: { 'X-Tenant': 'acme', 'X-Change-Op': event.op } });
export default transform;
