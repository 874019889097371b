#!/bin/sh
# Rebuild ui/static/vendor/echarts.custom.min.js from entry.js (see docs/dependencies.md).
#   cd tools/echarts-build && npm ci && ./build.sh
set -eu
cd "$(dirname "$0")"
OUT=../../ui/static/vendor/echarts.custom.min.js
VERSION=$(node -p "require('echarts/package.json').version")
npx esbuild entry.js --bundle --minify --format=iife --target=es2017 --legal-comments=none \
  --define:process.env.NODE_ENV='"production"' --define:__DEV__=false \
  --banner:js="/*! ECharts $VERSION (Apache-2.0, see echarts.LICENSE.txt), custom build for Jig: bar, line, pie, grid, tooltip, canvas. Rebuild: tools/echarts-build/build.sh */" \
  --outfile="$OUT"
ls -l "$OUT"
