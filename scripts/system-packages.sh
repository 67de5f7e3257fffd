#!/usr/bin/env bash
# The Debian packages the test suite needs beyond Python: ffprobe (the playback test),
# espeak-ng (speech for the audio-analysis tests), and libvirt-dev + pkg-config + gcc
# (to build libvirt-python; the lab tests run on libvirt's test:///default, no daemon).
# Installs what is missing when run as root; otherwise names it and fails.
set -euo pipefail

missing=()
command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v gcc >/dev/null || missing+=(gcc)
command -v pkg-config >/dev/null || missing+=(pkg-config)
pkg-config --exists libvirt 2>/dev/null || missing+=(libvirt-dev)

if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "the test suite needs these Debian packages: ${missing[*]}" >&2
  echo "install them (sudo apt-get install ${missing[*]}) and run make test again" >&2
  exit 1
fi
echo "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
