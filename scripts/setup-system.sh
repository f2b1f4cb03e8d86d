#!/usr/bin/env bash
# System packages that posegrad's tests, demo and benchmarks use (Debian/Ubuntu, as root):
#   chromium     headless WebGPU smoke test in a browser (SwiftShader)
#   ffmpeg       `npm run demo -- --video FILE` decodes video; the demo writes an animated GIF
#   opencv-doc   OpenCV's sample videos (vtest.avi, 795 frames of pedestrians) used by tests and docs
# WebGPU in Node needs lavapipe too: scripts/install-lavapipe.sh (separate, it adds bookworm-backports).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
[ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] || need+=(opencv-doc)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian may ship the sample video compressed
if [ ! -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] && [ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi.gz ]; then
  gunzip -k /usr/share/doc/opencv-doc/examples/data/vtest.avi.gz
fi
chromium --version || true
ffmpeg -version | head -1 || true
ls -la /usr/share/doc/opencv-doc/examples/data/vtest.avi
