#!/usr/bin/env bash
# System packages Kiln needs, on Debian bookworm (run as root, or it re-runs itself with sudo):
#   - mesa-vulkan-drivers 25.x from bookworm-backports: lavapipe, the CPU Vulkan driver that
#     dawn.node (npm 'webgpu') uses when there is no GPU. Bookworm's own 22.3 is too old.
#   - libonnx-testdata (ONNX 1.12 backend test data) -> /usr/share/libonnx-testdata/data
#   - chromium (browser tests), graphviz (`dot`), vulkan-tools (`vulkaninfo`, optional)
#   - libonnx-testdata 1.17.0 (opsets <= 22) from Debian trixie: the .deb alone is
#     downloaded (checksum pinned) and extracted into .cache/ (trixie is not added
#     to the apt sources)
# Safe to re-run. Prints the 1.17 test data folder as KILN_ONNX_TESTDATA_117=/path,
# then the 1.12 one on its last line as
#   KILN_ONNX_TESTDATA=/path
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then exec sudo -E bash "$0" "$@"; fi
  echo "setup-system.sh: must run as root (or with sudo available)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -qq -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false)
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

. /etc/os-release
if [[ "${VERSION_CODENAME:-}" != bookworm ]]; then
  echo "setup-system.sh: warning: written for Debian bookworm, this is '${PRETTY_NAME:-unknown}'" >&2
fi
CODENAME=${VERSION_CODENAME:-bookworm}

# 1. bookworm-backports (deb822), unless some source already lists it.
if ! grep -rqs -- "${CODENAME}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/backports.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: ${CODENAME}-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  echo "added ${CODENAME}-backports in /etc/apt/sources.list.d/backports.sources"
fi

# 2. Package lists.
apt-get update -qq

# 3. lavapipe 25.x from backports (libvulkan1 comes with it).
apt-get install "${APT_OPTS[@]}" -t "${CODENAME}-backports" mesa-vulkan-drivers >/dev/null
mesa_version=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)
if ! dpkg --compare-versions "$mesa_version" ge 25; then
  echo "setup-system.sh: mesa-vulkan-drivers is $mesa_version, need >= 25 (from ${CODENAME}-backports)" >&2
  exit 1
fi

# 4. The rest from the main suites.
apt-get install "${APT_OPTS[@]}" chromium graphviz curl ca-certificates >/dev/null
apt-get install "${APT_OPTS[@]}" vulkan-tools >/dev/null || echo "setup-system.sh: vulkan-tools not installed (optional)" >&2
apt-get install "${APT_OPTS[@]}" espeak-ng sox >/dev/null  # speech fixtures of test/packages (VAD)
apt-get install "${APT_OPTS[@]}" dataset-fashion-mnist >/dev/null  # Fashion-MNIST IDX files (examples/fashion-mnist, test/training)

# 5. ONNX backend test data: install the package; if apt cannot, extract its .deb into .cache/.
ONNX_DATA=/usr/share/libonnx-testdata/data
if ! apt-get install "${APT_OPTS[@]}" libonnx-testdata >/dev/null; then
  echo "setup-system.sh: apt-get install libonnx-testdata failed; extracting the .deb instead" >&2
  dest="$REPO_ROOT/.cache/onnx-testdata"
  tmp=$(mktemp -d); chown _apt "$tmp" 2>/dev/null || true
  (cd "$tmp" && apt-get download -qq libonnx-testdata)
  rm -rf "$dest" && mkdir -p "$dest"
  dpkg -x "$tmp"/libonnx-testdata_*.deb "$dest"
  rm -rf "$tmp"
  ONNX_DATA="$dest/usr/share/libonnx-testdata/data"
fi
if [[ ! -d "$ONNX_DATA/node" ]]; then
  echo "setup-system.sh: ONNX test data not found at $ONNX_DATA" >&2
  exit 1
fi

# 6. ONNX 1.17 test data: the trixie .deb, checked against the pinned SHA-256 of
#    trixie's Packages index, extracted into .cache/ (skipped when already there).
DATA_117_DEB=libonnx-testdata_1.17.0-3_all.deb
DATA_117_SHA256=d2d352c25a62c5544781cd7fb08c41507cd2bbded859f8e804ac8594329077bd
dest117="$REPO_ROOT/.cache/onnx-testdata-1.17"
ONNX_DATA_117="$dest117/usr/share/libonnx-testdata/data"
if [[ ! -f "$dest117/.sha256" ]] || [[ "$(cat "$dest117/.sha256")" != "$DATA_117_SHA256" ]] || [[ ! -d "$ONNX_DATA_117/node" ]]; then
  tmp=$(mktemp -d)
  url="http://deb.debian.org/debian/pool/main/o/onnx/$DATA_117_DEB"
  if ! curl -fsSL --retry 3 -o "$tmp/$DATA_117_DEB" "$url"; then
    echo "setup-system.sh: could not download $url" >&2
    exit 1
  fi
  if ! echo "$DATA_117_SHA256  $tmp/$DATA_117_DEB" | sha256sum -c --quiet -; then
    echo "setup-system.sh: $DATA_117_DEB does not match its pinned SHA-256" >&2
    exit 1
  fi
  rm -rf "$dest117" && mkdir -p "$dest117"
  dpkg -x "$tmp/$DATA_117_DEB" "$dest117"
  echo "$DATA_117_SHA256" > "$dest117/.sha256"
  rm -rf "$tmp"
fi
if [[ ! -d "$ONNX_DATA_117/node" ]]; then
  echo "setup-system.sh: ONNX 1.17 test data not found at $ONNX_DATA_117" >&2
  exit 1
fi

echo "mesa-vulkan-drivers $mesa_version; chromium $(dpkg-query -W -f='${Version}' chromium);" \
  "graphviz $(dpkg-query -W -f='${Version}' graphviz); libonnx-testdata" \
  "$(dpkg-query -W -f='${Version}' libonnx-testdata 2>/dev/null || echo extracted)"
echo "KILN_ONNX_TESTDATA_117=$ONNX_DATA_117"
echo "KILN_ONNX_TESTDATA=$ONNX_DATA"
