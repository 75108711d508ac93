#!/usr/bin/env bash
# Builds the Kubernetes test toolchain from the Go module proxy and caches it per user, outside
# the repository: kube-apiserver, kube-controller-manager and kubectl from k8s.io/kubernetes, etcd
# from go.etcd.io/etcd/server/v3, and helm from helm.sh/helm/v3. Nothing is downloaded except Go
# modules, so this works where only the module proxy is reachable (no release tarballs, no images).
#
#   tools/k8s-toolchain.sh            build what is missing, then print the bin directory
#   tools/k8s-toolchain.sh bin-dir    print the bin directory without building
#
# The versions below are the only place they are pinned; the cache directory is keyed by them, so
# changing one builds a fresh set next to the old one.
set -euo pipefail

KUBERNETES_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
HELM_VERSION=v3.22.0

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CACHE_ROOT=${OKANE_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/okane/k8s}
SET_DIR=$CACHE_ROOT/kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION
BIN_DIR=$SET_DIR/bin
BINARIES=(kube-apiserver kube-controller-manager kubectl etcd helm)

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
    echo "k8s-toolchain: a Go toolchain (1.26 or newer) is needed to build ${missing[*]}" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
exec 9>"$SET_DIR/.lock"
flock 9  # two test sessions starting at once build once
log=$SET_DIR/build.log
started=$(date +%s)
echo "k8s-toolchain: building ${missing[*]} into $BIN_DIR (log: $log)" >&2

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

minor=${KUBERNETES_VERSION#v1.}
minor=${minor%%.*}
staging_version=v0.${KUBERNETES_VERSION#v1.}

{
    echo "== $(date -u +%FT%TZ) build of ${missing[*]} with $("$GO" version)"

    # k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0
    # and replaces them with ./staging/src/..., which only works inside its own repository. A
    # wrapper module replaces each with the version published for this release (v1.X.Y -> v0.X.Y).
    wrapper=$SET_DIR/src/kubernetes
    mkdir -p "$wrapper"
    cat >"$wrapper/go.mod" <<MOD
module okane.dev/k8s-toolchain

go 1.26.0

require (
	k8s.io/kubernetes $KUBERNETES_VERSION
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
)
MOD
    (cd "$wrapper" && "$GO" mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null)
    kubernetes_mod=$("$GO" env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.mod
    {
        echo "replace ("
        sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' \
            "$kubernetes_mod"
        echo ")"
    } >>"$wrapper/go.mod"
    version_flags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
    version_flags+=" -X k8s.io/component-base/version.gitMajor=1"
    version_flags+=" -X k8s.io/component-base/version.gitMinor=$minor"
    version_flags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    version_flags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
    version_flags+=" -X k8s.io/client-go/pkg/version.gitMajor=1"
    version_flags+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    version_flags+=" -X k8s.io/client-go/pkg/version.gitTreeState=clean"
    cd "$wrapper"
    "$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
        "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
        "k8s.io/kubernetes/cmd/kubectl@$KUBERNETES_VERSION" \
        "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    for b in kube-apiserver kube-controller-manager kubectl; do
        [[ -x $BIN_DIR/$b ]] && continue
        t=$(date +%s)
        "$GO" build -trimpath -ldflags "-s -w $version_flags" -o "$BIN_DIR/$b.tmp" \
            "k8s.io/kubernetes/cmd/$b"
        mv "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
        echo "built $b in $(($(date +%s) - t)) s"
    done
    if ! [[ -x $BIN_DIR/etcd ]]; then
        t=$(date +%s)
        "$GO" build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" go.etcd.io/etcd/server/v3
        mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
        echo "built etcd in $(($(date +%s) - t)) s"
    fi

    # helm's own go.mod has no replace lines, so `go install module@version` builds it as released.
    if ! [[ -x $BIN_DIR/helm ]]; then
        t=$(date +%s)
        helm_flags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
        helm_flags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
        helm_flags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
        GOBIN=$BIN_DIR "$GO" install -trimpath -ldflags "-s -w $helm_flags" \
            "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
        echo "built helm in $(($(date +%s) - t)) s"
    fi
    echo "== toolchain ready in $(($(date +%s) - started)) s"
} >>"$log" 2>&1 || {
    echo "k8s-toolchain: build failed; the last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
}
echo "k8s-toolchain: built ${missing[*]} in $(($(date +%s) - started)) s" >&2
echo "$BIN_DIR"
