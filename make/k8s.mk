# Kubernetes: the pinned toolchain the operator tests run against, and a control plane for people.
# Included from the Makefile; `make test` builds the toolchain first when it is missing.

K8S_TOOLCHAIN := tools/k8s-toolchain.sh

.PHONY: k8s-toolchain k8s-up prometheus-toolchain

# kube-apiserver, kube-controller-manager, kubectl, etcd and helm, built from the Go module proxy
# into ~/.cache/okane/k8s/ (once; several minutes on two cores; logged there in build.log).
k8s-toolchain: ## build the pinned Kubernetes toolchain into ~/.cache/okane/k8s/ (once)
	@bash $(K8S_TOOLCHAIN) >/dev/null

# etcd + kube-apiserver + kube-controller-manager on loopback; prints the KUBECONFIG to use.
k8s-up: install k8s-toolchain ## a local control plane in the foreground; prints its KUBECONFIG
	$(PY)/python -m tests.k8s.cluster

# Prometheus 3 and promtool, built from the Go module proxy into ~/.cache/okane/prometheus-*/
# (once; about 10 minutes on two cores): the alert rules' promtool tests and the Prometheus test.
prometheus-toolchain: ## build the pinned Prometheus and promtool into ~/.cache/okane/ (once)
	@bash tools/prometheus-toolchain.sh >/dev/null

test: k8s-toolchain prometheus-toolchain
