// The Vite page: no options at all. Vite finds posegrad's `new URL('./build/<file>', import.meta.url)`
// and emits the .wasm files as assets by itself.
import { run } from './main.js';

run('vite', {});
