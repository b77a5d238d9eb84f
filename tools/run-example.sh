#!/usr/bin/env bash
# Runs a PowerShell script (e.g. examples/quickstart.ps1) against the freshly built module, without pwsh:
#
#   bash tools/run-example.sh examples/quickstart.ps1 [script args...]
#
# 1. builds ExecBridge.sln (Release), which assembles the importable module in out/ExecBridge/;
# 2. finds a codex binary for Connect-ExecBridge -Local: $EXECBRIDGE_CODEX, else `codex` on PATH, else
#    codex 0.169.0 from the npm registry (`npm pack @openai/codex@0.169.0-linux-x64`), unpacked once into
#    the gitignored .peers/0.169.0/ -- the same cache the tests use;
# 3. runs the script in the real PowerShell 7.6 engine hosted by tools/ExecBridge.Host (a small console
#    app referencing the System.Management.Automation package). Only the engine's core cmdlets exist there.
#
# EXECBRIDGE_BUILD_ARGS may add MSBuild properties for side-by-side builds, e.g.
#   EXECBRIDGE_BUILD_ARGS="-p:ArtifactsPath=/tmp/me/artifacts -p:ModuleOutDir=/tmp/me/out/ExecBridge/"
# (then point EXECBRIDGE_MODULE at that module's .psd1; the quickstart honours it).
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: bash tools/run-example.sh <script.ps1> [args...]" >&2
  exit 2
fi
script="$1"; shift
if [ ! -f "$script" ]; then
  echo "run-example: '$script' does not exist." >&2
  exit 2
fi
script="$(cd "$(dirname "$script")" && pwd)/$(basename "$script")"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
read -r -a extra <<< "${EXECBRIDGE_BUILD_ARGS:-}"

# 1. Build (quietly; the log is shown only when the build fails).
echo "run-example: building ExecBridge.sln (Release)..." >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! dotnet build ExecBridge.sln -c Release -nologo "${extra[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  echo "run-example: the build failed." >&2
  exit 1
fi

# 2. A codex exec-server binary.
codex_version="0.169.0"
find_peer() {
  local dir="$root/.peers/$codex_version" rel
  for rel in package/vendor/x86_64-unknown-linux-musl/bin/codex package/vendor/x86_64-unknown-linux-musl/codex/codex; do
    if [ -f "$dir/$rel" ]; then echo "$dir/$rel"; return 0; fi
  done
  return 1
}
if [ -n "${EXECBRIDGE_CODEX:-}" ]; then
  if [ ! -f "$EXECBRIDGE_CODEX" ]; then
    echo "run-example: EXECBRIDGE_CODEX='$EXECBRIDGE_CODEX' does not exist." >&2
    exit 1
  fi
elif command -v codex >/dev/null 2>&1; then
  EXECBRIDGE_CODEX="$(command -v codex)"
else
  if ! EXECBRIDGE_CODEX="$(find_peer)"; then
    echo "run-example: fetching codex $codex_version from the npm registry into .peers/$codex_version/ (once)..." >&2
    mkdir -p "$root/.peers/$codex_version"
    # Same lock file as the tests (Peers.cs), so a test run and this script never unpack at once.
    (
      flock -w 600 9
      if ! find_peer >/dev/null; then
        cd "$root/.peers/$codex_version"
        npm pack "@openai/codex@${codex_version}-linux-x64" --silent >/dev/null
        tgz="$(ls -1 ./*.tgz | head -n 1)"
        tar -xzf "$tgz"
        rm -f "$tgz"
      fi
    ) 9>"$root/.peers/$codex_version.lock"
    EXECBRIDGE_CODEX="$(find_peer)" || { echo "run-example: no codex binary in the codex $codex_version package." >&2; exit 1; }
  fi
fi
export EXECBRIDGE_CODEX
echo "run-example: codex is $EXECBRIDGE_CODEX" >&2

# 3. The hosted engine.
host_dll="$(dotnet msbuild tools/ExecBridge.Host/ExecBridge.Host.csproj -nologo -getProperty:TargetPath -p:Configuration=Release "${extra[@]}")"
echo "run-example: running $script" >&2
exec dotnet "$host_dll" "$script" "$@"
