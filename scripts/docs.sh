#!/usr/bin/env bash
# The documentation site: a quick report and the notebooks as pages, then Sphinx with warnings as errors.
# Usage: bash scripts/docs.sh [OUTPUT_DIR]   (default docs/_build/html; the generated pages go to
# docs/generated/, which git ignores).
set -euo pipefail
if [ $# -ge 1 ]; then out="$(mkdir -p "$1" && cd "$1" && pwd)"; else out=""; fi
cd "$(dirname "$0")/.."
out="${out:-$PWD/docs/_build/html}"
bash scripts/bootstrap.sh
rm -rf docs/generated && mkdir -p docs/generated/notebooks
.venv/bin/spectral-la report --quick --out docs/generated/report --no-progress > /dev/null
for nb in notebooks/*.py; do
    .venv/bin/jupytext --quiet --to md -o "docs/generated/notebooks/$(basename "$nb" .py).md" "$nb"
done
{
    for png in docs/generated/report/figures/*.png; do
        name=$(basename "$png" .png)
        echo "**${name}**"
        echo
        echo "![${name}](report/figures/${name}.png)"
        echo
    done
} > docs/generated/figures.md
.venv/bin/python -m sphinx -W --keep-going -q -b html docs "$out"
echo "$out/index.html"
