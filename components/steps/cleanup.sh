#!/usr/bin/env bash
# cleanup: not built yet. Until it is, this step fails loudly so that no run can pass through it.
set -euo pipefail
echo "ERROR: cleanup: this step is not implemented yet; the pipeline stops here" >&2
exit 1
