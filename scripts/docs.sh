#!/usr/bin/env bash
# The documentation site: a quick report and the notebooks as pages, then Sphinx with warnings as errors.
# Output: docs/_build/html/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
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
.venv/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
echo "docs/_build/html/index.html"
