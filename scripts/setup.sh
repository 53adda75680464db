#!/usr/bin/env bash
# Sets Planner up on a Debian (12 or later) machine, and is safe to run again:
#  1. the Debian packages Qt needs (offscreen and on a real or virtual X screen), and the DICOM
#     tools the tests use as referees (dcmtk, dicom3tools, a real PACS: orthanc; PDF pages to PNG: poppler-utils),
#     and PostgreSQL (Debian's `postgresql`, 15 on Debian 12): the department audit log's tests start their
#     own server from its binaries in a temporary folder (tests/postgres_server.py), never a system service;
#  2. a virtual environment in .venv with Planner and its test tools installed;
#  3. a separate one, .venv-reference, with only the independent codes the tests compare against
#     (ompMC, dicompyler-core).
# Measured package list: shared/reference/qt-setup-notes.md §1.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  libegl1 libgl1 libdbus-1-3 libfontconfig1 libglib2.0-0 libxkbcommon0
  xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-shape0 libxkbcommon-x11-0
  dcmtk dicom3tools orthanc poppler-utils postgresql
)
python3 -m venv --help >/dev/null 2>&1 || DEBIAN_PACKAGES+=(python3-venv python3-pip)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "setup: these Debian packages are missing and this user cannot install them: ${missing[*]}" >&2
    echo "setup: ask an administrator to run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  $sudo apt-get update -qq
  # Packages such as postgresql and orthanc start a system service when installed. Planner needs none (the
  # tests start their own servers), and where no init system runs (a container) the start fails and with it
  # the install. So, unless the machine already has a policy, service starts are forbidden while these
  # packages install: /usr/sbin/policy-rc.d exiting 101 is Debian's switch for that (invoke-rc.d(8)); it is
  # removed again afterwards, also when the install fails. The services can be started by hand later.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "$(trap -p EXIT)" ]; then $sudo rm -f "$policy"; trap - EXIT; fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating the virtual environment in .venv"
  python3 -m venv .venv
fi
# Reinstall only when the project's requirements changed.
stamp=.venv/.planner-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "setup: installing Planner and its test tools into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  echo "$wanted" > "$stamp"
fi

# 3. A separate environment, .venv-reference, holding only the independent codes the tests compare Planner with:
#    ompMC (GPL-3) for the kV depth doses, dicompyler-core (BSD; needs pydicom 2, Planner has 3) for the IMRT DVH
#    points; it never enters .venv (tests/reference/requirements.txt).
if [ ! -x .venv-reference/bin/python ]; then
  echo "setup: creating the reference environment in .venv-reference"
  python3 -m venv .venv-reference
fi
ref_stamp=.venv-reference/.reference-installed
ref_wanted=$(sha256sum tests/reference/requirements.txt | cut -d' ' -f1)
if [ ! -f "$ref_stamp" ] || [ "$(cat "$ref_stamp")" != "$ref_wanted" ]; then
  echo "setup: installing the reference codes (ompMC, dicompyler-core) into .venv-reference"
  .venv-reference/bin/python -m pip install -q -r tests/reference/requirements.txt
  echo "$ref_wanted" > "$ref_stamp"
fi
echo "setup: ready"
