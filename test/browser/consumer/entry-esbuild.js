// The esbuild page: esbuild does not copy the .wasm files that posegrad loads at run time, so this
// entry imports their URLs through the package's `posegrad/wasm/*` export (esbuild's `file`
// loader copies each one and gives its URL) and passes them as `wasmPaths`.
import plain from 'posegrad/wasm/posegrad.wasm';
import relaxed from 'posegrad/wasm/posegrad-relaxed.wasm';
import threads from 'posegrad/wasm/posegrad-threads.wasm';
import relaxedThreads from 'posegrad/wasm/posegrad-relaxed-threads.wasm';
import { run } from './main.js';

run('esbuild', {
  wasmPaths: {
    'posegrad.wasm': plain,
    'posegrad-relaxed.wasm': relaxed,
    'posegrad-threads.wasm': threads,
    'posegrad-relaxed-threads.wasm': relaxedThreads,
  },
});
