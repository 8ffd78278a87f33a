// npm itself may run on an older system Node; the project's scripts must run on the Node 24 that
// `npm ci` installs into node_modules/.bin. `npm ci --ignore-scripts` silently skips that install.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `sync-pipeline needs Node.js 24 or newer, got ${process.versions.node}. ` +
      'Run `npm ci` (without --ignore-scripts) so the pinned Node 24 is installed into node_modules/.bin.',
  );
  process.exit(1);
}
