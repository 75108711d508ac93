#!/usr/bin/env bash
# Builds Prometheus 3 and promtool from the Go module proxy and caches them per user, outside the
# repository (like tools/k8s-toolchain.sh). The tests run a real Prometheus against the services
# and check the chart's alert rules with `promtool check rules` and `promtool test rules`.
#
#   tools/prometheus-toolchain.sh            build what is missing, then print the bin directory
#   tools/prometheus-toolchain.sh bin-dir    print the bin directory without building
#
# Prometheus v3.X.Y is published to the module proxy as v0.3XX.Y; the cache directory is keyed by
# the version, so changing it builds a fresh set next to the old one.
set -euo pipefail

PROMETHEUS_VERSION=v3.16.0
MODULE_VERSION=v0.316.0

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CACHE_ROOT=${OKANE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/okane}
SET_DIR=$CACHE_ROOT/prometheus-$PROMETHEUS_VERSION
BIN_DIR=$SET_DIR/bin
BINARIES=(prometheus promtool)

if [[ ${1:-} == bin-dir ]]; then
    echo "$BIN_DIR"
    exit 0
fi

missing=()
for b in "${BINARIES[@]}"; do
    [[ -x $BIN_DIR/$b ]] || missing+=("$b")
done
if ((${#missing[@]} == 0)); then
    echo "$BIN_DIR"
    exit 0
fi

if ! [[ -x $GO ]] && ! command -v "$GO" >/dev/null; then
    echo "prometheus-toolchain: a Go toolchain (1.26 or newer) is needed to build ${missing[*]}" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
exec 9>"$SET_DIR/.lock"
flock 9  # two test sessions starting at once build once
log=$SET_DIR/build.log
started=$(date +%s)
echo "prometheus-toolchain: building ${missing[*]} into $BIN_DIR (log: $log)" >&2

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
flags="-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}"
flags+=" -X github.com/prometheus/common/version.Branch=release"
{
    echo "== $(date -u +%FT%TZ) build of ${missing[*]} with $("$GO" version)"
    for b in "${missing[@]}"; do
        [[ -x $BIN_DIR/$b ]] && continue
        t=$(date +%s)
        # Its go.mod has no replace lines, so `go install module@version` builds it as released.
        GOBIN=$BIN_DIR "$GO" install -trimpath -ldflags "-s -w $flags" \
            "github.com/prometheus/prometheus/cmd/$b@$MODULE_VERSION"
        echo "built $b in $(($(date +%s) - t)) s"
    done
    echo "== toolchain ready in $(($(date +%s) - started)) s"
} >>"$log" 2>&1 || {
    echo "prometheus-toolchain: build failed; the last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
}
echo "prometheus-toolchain: built ${missing[*]} in $(($(date +%s) - started)) s" >&2
echo "$BIN_DIR"
