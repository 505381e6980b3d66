#!/usr/bin/env bash
# Make sure Fashion-MNIST can be found before the demo trains on it.
# Where it is missing and this is root with apt, install Debian's dataset-fashion-mnist;
# otherwise print vaekit's own message (the four files and where to put them) and fail.
set -u
py="$1"
locate() {
  "$py" - <<'PY'
import sys

from vaekit.data.fetch import locate_files
from vaekit.errors import VaekitError

try:
    locate_files("fashion-mnist")
except VaekitError as err:
    sys.exit(f"vaekit: {err}")
PY
}
locate 2>/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Fashion-MNIST not found: installing Debian's package dataset-fashion-mnist ..."
  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
locate
