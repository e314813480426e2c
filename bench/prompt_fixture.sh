#!/usr/bin/env bash
# Writes the prompt benchmark's two .prompty files into DIR: default.prompty and openai.prompty,
# a default and a variant for the target's provider kind, rendered with the request's inputs
# for every request. bench/run.sh's prompt target and bench/callgrind.sh's prompt mode both
# use them, so that both measure the same prompt.
#
#   bench/prompt_fixture.sh DIR
set -euo pipefail
dir=${1:?usage: bench/prompt_fixture.sh DIR}
for variant in default openai; do
  cat >"$dir/$variant.prompty" <<PROMPTY
---
name: bench-$variant
model:
  api: chat
  parameters: {max_tokens: 64}
inputs:
  text: {type: string}
  style: {type: string, default: short}
---
system:
The $variant variant: answer in a {{style}} way.

user:
{{text}}
PROMPTY
done
