#!/bin/sh
# Installs the official OpenAI Node SDK for OpenAiJavaClientTest's Node flow (run by the build, ingest/pom.xml):
# npm ci against the committed package.json + package-lock.json, in target/node-sdk. Skipped when the lock
# file and the installed SDK are already there; never fails the build: without node/npm (or without the
# registry) the test skips and says why.
dir=target/node-sdk
mkdir -p "$dir"
cp src/test/node/batch-flow.mjs "$dir/"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "node/npm not found: the Node SDK test will skip" > "$dir/install.log"
  echo "[node-sdk] node/npm not found: the Node SDK test will skip"
  exit 0
fi
if cmp -s src/test/node/package-lock.json "$dir/package-lock.json" && [ -f "$dir/node_modules/openai/package.json" ]; then
  exit 0
fi
cp src/test/node/package.json src/test/node/package-lock.json "$dir/"
cd "$dir" || exit 0
if npm ci --no-audit --no-fund --prefer-offline --loglevel=error > install.log 2>&1; then
  echo "[node-sdk] installed openai $(node -p "require('./node_modules/openai/package.json').version")"
else
  echo "[node-sdk] npm ci failed (see ingest/$dir/install.log): the Node SDK test will skip"
  rm -f package-lock.json
fi
exit 0
