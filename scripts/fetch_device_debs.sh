#!/usr/bin/env bash
# scripts/fetch_device_debs.sh - run HERE (Debian 12, apt works), not on the
# GPU machine: downloads into .debs/ (git-ignored) the .deb files of every
# library peftui's CMakeLists.txt builds against, so that
# scripts/device_check.sh can build on a GPU machine that has no network and
# perhaps none of these -dev packages (it unpacks them with dpkg -x into
# /tmp/sysroot, never into /).
#   scripts/fetch_device_debs.sh            # then carry ".debs" in the device call
#
# The list is fixed and checked: every Depends of every listed package must be
# either listed too or in ASSUMED (what any Ubuntu 24.04 with gcc has, or what
# the build never touches); the script fails otherwise, so a Debian update
# that adds a dependency shows up here, not on the device.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.debs"

# what CMakeLists.txt needs: pkg_check_modules(libpcre2-8, libcjson, ncursesw),
# find_library(readline), cblas.h + libopenblas (OpenMP build), pkg-config
PKGS=(
    pkgconf pkgconf-bin libpkgconf3                 # pkg-config itself (FindPkgConfig)
    libpcre2-dev libpcre2-8-0                       # libpcre2-8
    libcjson-dev libcjson1                          # libcjson
    libncurses-dev libncursesw6 libncurses6 libtinfo6   # ncursesw (+ tinfo it links)
    libreadline-dev libreadline8                    # readline
    libopenblas-openmp-dev libopenblas0-openmp      # cblas.h + libopenblas (OpenMP)
    libgfortran5 libquadmath0                       # libopenblas0-openmp's runtime needs
)
# Depends we do not ship: the C library and compiler runtime (there with gcc,
# which nvcc needs), Debian packaging tools, and pieces no build step uses
# (pcre2's 16/32-bit and POSIX libraries, ncurses' programs, readline's inputrc).
ASSUMED=" libc6 libc6-dev libc-dev libgcc-s1 libgomp1 gcc-12-base dpkg install-info
          ncurses-bin readline-common libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 "

missing=()
for p in "${PKGS[@]}"; do
    # direct Depends (PreDepends too); alternatives "|" all count as satisfied
    # when any one of them is listed or assumed
    while read -r line; do
        ok=0
        for alt in $line; do
            alt="${alt#<}"; alt="${alt%>}"
            if [[ " ${PKGS[*]} " == *" $alt "* || "$ASSUMED" == *" $alt "* ]]; then ok=1; fi
        done
        [ $ok -eq 1 ] || missing+=("$p -> $line")
    done < <(apt-cache depends "$p" | awk '
        # "  Depends: X" ends a group; " |Depends: X" means "X or the next"
        /^ [ |](Pre)?Depends: / { alt = (alt == "" ? "" : alt " ") $2; if ($1 ~ /^\|/) next; print alt; alt = "" }')
done
if [ ${#missing[@]} -gt 0 ]; then
    printf 'unlisted dependency: %s\n' "${missing[@]}" >&2
    echo "add it to PKGS or, if the device surely has it, to ASSUMED" >&2
    exit 1
fi

mkdir -p "$DEST"
rm -f "$DEST"/*.deb
# apt-get download as root warns that _apt cannot write here; harmless
(cd "$DEST" && apt-get download -q "${PKGS[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
n="$(ls "$DEST"/*.deb | wc -l)"
if [ "$n" -ne ${#PKGS[@]} ]; then
    echo "expected ${#PKGS[@]} .deb files in $DEST, found $n" >&2
    exit 1
fi
ls -l "$DEST"/*.deb | awk '{ printf "%9d  %s\n", $5, $NF }'
total="$(du -cb "$DEST"/*.deb | tail -n 1 | cut -f1)"
printf 'total: %d files, %.1f MiB in %s\n' "$n" "$(echo "$total / 1048576" | bc -l)" "$DEST"
if [ "$total" -gt $((30 * 1024 * 1024)) ]; then
    echo "over 30 MiB: the working tree that travels is limited to 64 MiB" >&2
    exit 1
fi
