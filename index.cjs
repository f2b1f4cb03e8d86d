'use strict';
// posegrad is an ES module package (its code is in dist/*.js, "type": "module"). This file answers
// `require('posegrad')`: Node >= 20.19 can require() an ES module, so it hands over the real
// exports; anywhere that cannot, it throws an Error saying how to import posegrad instead.
const esmOnly = (why) =>
  new Error(
    `posegrad: expected to be loaded as an ES module, got a require() that cannot load one (${why}). ` +
      "Use `import { tensor, init } from 'posegrad'` in an ES module (a .mjs file, or \"type\": \"module\" in package.json), " +
      "or `const posegrad = await import('posegrad')` from CommonJS. require() of ES modules needs Node >= 20.19 (or >= 22.12).",
  );
let exported;
try {
  exported = require('./dist/index.js');
} catch (e) {
  if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) throw esmOnly(e.code);
  throw e;
}
module.exports = exported;
