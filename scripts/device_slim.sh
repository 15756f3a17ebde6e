#!/usr/bin/env bash
# Keep a GPU device call under its 64 MiB transfer (docs/training.md "Long runs on one warm machine").
# Job: take big tracked files out of a device call's transfer, and put them back before committing.
# When: around device calls whose tree plus carried paths would pass 64 MiB.
# Output: changes to the git index and .git/info/exclude (on/off); `size` prints the transfer size.
#
# The device tool copies tracked files plus untracked files git does not ignore, and the carried paths.
# With both shipped weights files tracked the tree alone is over the limit, so a training session takes
# big files it does not need on the device out of the index for its calls and puts them back before it
# commits. This script does that bookkeeping so nothing is forgotten:
#
#   bash scripts/device_slim.sh on codec/weights/dit-ic-s-v5.safetensors docs/results
#   bash scripts/device_slim.sh size .carry/pack .whl     # transfer size of the tree + these carry paths
#   bash scripts/device_slim.sh off                       # restore the index and .git/info/exclude
#
# `on` untracks the paths (the files stay on disk) and lists them in .git/info/exclude between marker
# lines; `off` removes exactly those lines and adds the paths back. Commits are refused in between
# (`git commit` would record the files as deleted), see `status`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
exclude=$(git rev-parse --git-path info/exclude)
begin="# device_slim: begin"
end="# device_slim: end"
limit=67108864

slimmed() { [ -f "$exclude" ] && sed -n "/^$begin\$/,/^$end\$/p" "$exclude" | grep -v '^#' | sed 's|^/||'; }

case ${1:-} in
on)
  shift
  [ $# -gt 0 ] || { echo "usage: device_slim.sh on PATH..." >&2; exit 2; }
  if [ -n "$(slimmed)" ]; then echo "already slimmed (run 'off' first):" >&2; slimmed >&2; exit 1; fi
  for p in "$@"; do
    [ -e "$p" ] || { echo "no such path: $p" >&2; exit 1; }
    [ -n "$(git ls-files -- "$p")" ] || { echo "not tracked: $p" >&2; exit 1; }
  done
  mkdir -p "$(dirname "$exclude")"
  { echo "$begin"; for p in "$@"; do echo "/${p%/}$([ -d "$p" ] && echo /)"; done; echo "$end"; } >>"$exclude"
  git rm -r -q --cached -- "$@"
  echo "untracked for device calls: $*"
  ;;
off)
  mapfile -t paths < <(slimmed)
  [ ${#paths[@]} -gt 0 ] || { echo "nothing slimmed"; exit 0; }
  sed -i "/^$begin\$/,/^$end\$/d" "$exclude"
  git add -- "${paths[@]}"
  echo "restored: ${paths[*]}"
  ;;
size)
  shift
  tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 -r du -cb 2>/dev/null |
    tail -n 1 | cut -f1)
  carry=0
  [ $# -gt 0 ] && carry=$(find "$@" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')  # file bytes
  total=$((tree + carry))
  echo "tree $tree + carry $carry = $total bytes (limit $limit): $([ $total -le $limit ] && echo fits ||
    echo "over by $((total - limit))")"
  [ $total -le $limit ]
  ;;
status)
  if [ -n "$(slimmed)" ]; then echo "slimmed (do not commit; run 'off'):"; slimmed; exit 1; fi
  echo "not slimmed"
  ;;
*)
  echo "usage: device_slim.sh on PATH... | off | size [CARRY...] | status" >&2
  exit 2
  ;;
esac
