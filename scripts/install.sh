#!/usr/bin/env bash
# The one install path shared by the README quick start, .ci/run and the Dockerfile, so the three cannot drift.
#   scripts/install.sh             runtime + development system packages, then .venv with the project and dev extras
#   scripts/install.sh --runtime   runtime system packages only (the Dockerfile; Python deps are pip-installed there)
#   scripts/install.sh --python    .venv only
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_PACKAGES=(
  tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd   # OCR engine, Vietnamese model, orientation model
  poppler-utils                                       # pdf2image's backend (pdftoppm, pdfinfo)
  fonts-dejavu-core fonts-liberation2 fonts-noto-core # Vietnamese-capable fonts for the synthetic generator
  libgl1 libglib2.0-0                                 # shared libraries some OpenCV/zxing wheels load
)
DEV_PACKAGES=(
  python3-venv python3-pip                            # the project's virtualenv
  chromium                                            # review UI browser tests (Playwright drives Debian's Chromium)
)

mode=${1:-all}
case "$mode" in
  all) packages=("${RUNTIME_PACKAGES[@]}" "${DEV_PACKAGES[@]}"); want_python=1 ;;
  --runtime) packages=("${RUNTIME_PACKAGES[@]}"); want_python=0 ;;
  --python) packages=(); want_python=1 ;;
  -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--runtime|--python]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  echo ">> installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ $want_python == 1 ]]; then
  [[ -x .venv/bin/python ]] || "${PYTHON:-python3}" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip setuptools  # the venv's seeded copies carry known CVEs
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo ">> ready: .venv/bin/intake --help"
fi
