# Outrigger. `make help` lists the targets.

# Kubernetes versions of the binaries the tests run against (built from Go modules by hack/): written once, in
# internal/controlplane/version.go, and read from there (then expanded once). K8S_VERSION is what `make test` runs
# on; OLDEST_K8S_VERSION the oldest Kubernetes the README promises, which `make test-oldest` runs on.
K8S_VERSION ?= $(shell sed -n 's/^const KubernetesVersion = "\(.*\)"/\1/p' internal/controlplane/version.go)
K8S_VERSION := $(K8S_VERSION)
OLDEST_K8S_VERSION ?= $(shell sed -n 's/^const OldestKubernetesVersion = "\(.*\)"/\1/p' internal/controlplane/version.go)
OLDEST_K8S_VERSION := $(OLDEST_K8S_VERSION)
ARGO_ROLLOUTS_VERSION ?= $(shell sed -n 's/^const ArgoRolloutsVersion = "\(.*\)"/\1/p' internal/controlplane/version.go)
ARGO_ROLLOUTS_VERSION := $(ARGO_ROLLOUTS_VERSION)
ifeq ($(K8S_VERSION),)
$(error K8S_VERSION: no `const KubernetesVersion = "..."` line in internal/controlplane/version.go)
endif
ifeq ($(OLDEST_K8S_VERSION),)
$(error OLDEST_K8S_VERSION: no `const OldestKubernetesVersion = "..."` line in internal/controlplane/version.go)
endif
ETCD_VERSION ?= v3.6.16
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0

LOCALBIN := $(CURDIR)/bin
CONTROLLER_GEN := $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT := $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUBEBUILDER_ASSETS := $(LOCALBIN)/k8s/$(K8S_VERSION)
ENVTEST_BINARIES := kube-apiserver etcd kubectl
OLDEST_ASSETS := $(LOCALBIN)/k8s/$(OLDEST_K8S_VERSION)
export KUBEBUILDER_ASSETS K8S_VERSION ETCD_VERSION
export GOTOOLCHAIN := local

.PHONY: all
all: build

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=outrigger-manager crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: verify-generated
verify-generated: ## Fail when the committed generated files differ from what the generators make now.
	@hack/verify-generated.sh

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint with .golangci.yml (vet, staticcheck, errcheck, unused, ..., gofmt and goimports).
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest-binaries
envtest-binaries: $(addprefix $(KUBEBUILDER_ASSETS)/,$(ENVTEST_BINARIES)) ## Build kube-apiserver, kubectl and etcd from Go modules into bin/.

# The script builds whichever of the three is missing (a build cut short can leave one without the others).
$(addprefix $(KUBEBUILDER_ASSETS)/,$(ENVTEST_BINARIES)) &:
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/build-k8s-binaries.sh

$(addprefix $(OLDEST_ASSETS)/,$(ENVTEST_BINARIES)) &:
	K8S_VERSION=$(OLDEST_K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/build-k8s-binaries.sh

# Other projects' CRDs the integration tests install (Argo Rollouts' Rollout), copied from their Go modules.
ROLLOUT_CRD := $(LOCALBIN)/crds/argo-rollouts-$(ARGO_ROLLOUTS_VERSION)/rollout-crd.yaml

.PHONY: third-party-crds
third-party-crds: $(ROLLOUT_CRD) ## Copy the CRDs of other projects that the tests install (Argo Rollouts) into bin/crds.

$(ROLLOUT_CRD):
	mkdir -p $(@D)
	dir=$$(go mod download -json github.com/argoproj/argo-rollouts@$(ARGO_ROLLOUTS_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
		test -n "$$dir" && cp "$$dir/manifests/crds/rollout-crd.yaml" $@.tmp && chmod 644 $@.tmp && mv $@.tmp $@

.PHONY: test
test: verify-generated vet envtest-binaries third-party-crds test-monitoring ## Unit and integration tests (real kube-apiserver and etcd), and test-monitoring.
	go test ./... -count=1

# test/monitoring is a module of its own (Prometheus' rule engine brings cloud SDKs the main module does without), so
# go test ./... does not reach it.
.PHONY: test-monitoring
test-monitoring: ## The alerts (fired on synthetic series by Prometheus' packages), the Grafana dashboard's queries, and the chart's copies of both.
	cd test/monitoring && go vet ./... && go test ./... -count=1

# The packages whose tests start a control plane (they import envtest or internal/controlplane), found by go list
# so that a test moving between packages needs no change here; the benchmarks and the end-to-end tests excepted,
# and test/admission, whose MutatingAdmissionPolicies Kubernetes serves from 1.36 on (policy mode needs them).
INTEGRATION_PKGS = $(shell go list -e -f '{{.ImportPath}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}' ./... | \
	awk '/ (sigs\.k8s\.io\/controller-runtime\/pkg\/envtest|github\.com\/outrigger-dev\/outrigger\/internal\/controlplane)( |$$)/ {print $$1}' | \
	grep -v -e '/test/bench$$' -e '/test/e2e$$' -e '/test/admission$$')

.PHONY: test-oldest
test-oldest: $(addprefix $(OLDEST_ASSETS)/,$(ENVTEST_BINARIES)) third-party-crds ## The integration tests on the oldest Kubernetes the README promises (OLDEST_K8S_VERSION).
	KUBEBUILDER_ASSETS=$(OLDEST_ASSETS) go test $(INTEGRATION_PKGS) -count=1

# BENCH_N (default 1000,5000 Deployments) and BENCH_PODS (default 20000,5000: pods, of which injected) size the
# scale benchmark (test/bench); it writes its table and plot to bin/bench/. BENCH_N=200 is a quick run.
.PHONY: bench
bench: envtest-binaries ## Benchmarks: convergence, writes, admission and memory at scale (prints the table), the engine and the webhook handler per call.
	go test ./internal/inject ./internal/webhook -run '^$$' -bench . -benchmem
	go test ./internal/podcache -run '^$$' -bench . -benchtime 1x
	go test ./test/bench -run '^$$' -bench . -benchtime 1x -timeout 90m

# Every fuzz target of the module, as ./package:FuzzTarget words: go test -fuzz takes one target per run.
FUZZ_TARGETS = $(shell grep -rHo --include='*_test.go' --exclude-dir=bin --exclude-dir=.e2e '^func Fuzz[A-Za-z0-9_]*' . | \
	sed 's|^\./\(.*\)/[^/]*:func |./\1:|' | sort -u)

.PHONY: fuzz
fuzz: ## Run every fuzz target (engine, JSON patch, webhook, ...) one after the other, FUZZTIME each (default 30s).
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "=== $${t%%:*} $${t##*:} for $(or $(FUZZTIME),30s)"; \
		go test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(or $(FUZZTIME),30s) \
			-fuzzminimizetime $(or $(FUZZMINIMIZETIME),10s); \
	done

# Where make demo runs: cluster (the single-node cluster of hack/e2e: pods run; Linux amd64, root), controlplane
# (kube-apiserver and etcd only: no pods), or, left empty, the cluster where this machine can run it and the
# control plane elsewhere, saying why. DEMO_ARGS=--exit stops what the demo started once it has shown it.
DEMO ?=

.PHONY: demo
demo: build envtest-binaries ## Run Outrigger on the single-node cluster (or a control plane where it cannot run) and show pods with their sidecars.
	go build -o $(LOCALBIN)/outrigger-demo ./hack/demo
	$(LOCALBIN)/outrigger-demo $(if $(DEMO),--mode=$(DEMO)) $(DEMO_ARGS)

##@ Build

.PHONY: build
build: ## Build the manager into bin/.
	go build -o $(LOCALBIN)/manager ./cmd/manager

.PHONY: run
run: ## Run the manager against the cluster of the current kubeconfig (reconcilers only: the cluster cannot reach a webhook on your machine).
	go run ./cmd/manager --enable-webhooks=false

# The manager's image. config/manager/kustomization.yaml names it: its images entry renames manager.yaml's
# placeholder (controller), to outrigger:local as shipped. IMG defaults to that image, so that `kustomize edit set
# image` there is still honoured; make deploy sets the image to IMG.
MANAGER_IMAGE_NAME := $(or $(shell awk '/^- name: controller$$/ {f = 1; next} /^- / {f = 0} f && $$1 == "newName:" {print $$2}' \
	config/manager/kustomization.yaml),controller)
IMG ?= $(or $(shell awk '/^- name: controller$$/ {f = 1; next} /^- / {f = 0} f && $$1 == "newName:" {n = $$2} \
	f && $$1 == "newTag:" {t = ":" $$2} f && $$1 == "digest:" {d = "@" $$2} END {if (n != "") print n (d != "" ? d : t)}' \
	config/manager/kustomization.yaml),controller:latest)
IMG := $(IMG)

.PHONY: docker-build
docker-build: ## Build the manager's container image with Docker (or set CONTAINER_TOOL=podman).
	$(or $(CONTAINER_TOOL),docker) build -t $(IMG) .

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	kubectl apply --server-side -k config/crd

# make deploy applies config/default through an overlay in bin/deploy that sets the manager's image to IMG, as
# `kustomize edit set image` would, without a kustomize binary and without editing config/. The overlay matches
# the name config/default renders the image under, MANAGER_IMAGE_NAME.
KUBECTL ?= kubectl
DEPLOY_DIR := $(LOCALBIN)/deploy

.PHONY: deploy-kustomization
deploy-kustomization: # writes bin/deploy/kustomization.yaml: config/default with the manager's image IMG
	@mkdir -p $(DEPLOY_DIR)
	@img='$(IMG)'; ref=$${img%%@*}; \
	case "$${ref##*/}" in *:*) name=$${ref%:*} pin="  newTag: $${ref##*:}";; *) name=$$ref pin="  newTag: latest";; esac; \
	case "$$img" in *@*) pin="  digest: $${img#*@}";; esac; \
	printf '%s\n' '# Written by make deploy-kustomization: config/default with the image IMG=$(IMG).' \
		'resources:' '- ../../config/default' 'images:' '- name: $(MANAGER_IMAGE_NAME)' "  newName: $$name" "$$pin" \
		>$(DEPLOY_DIR)/kustomization.yaml

.PHONY: deploy-render
deploy-render: deploy-kustomization ## Print what make deploy applies, with image IMG (needs kubectl, no cluster).
	@$(KUBECTL) kustomize $(DEPLOY_DIR)

.PHONY: deploy
deploy: manifests deploy-kustomization ## Install Outrigger (CRDs, RBAC, manager in outrigger-system) with image IMG.
	$(KUBECTL) apply --server-side -k $(DEPLOY_DIR)

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $(GOLANGCI_LINT)

##@ kubectl plugin

# The CLI is also kubectl's plugin: the same binary, named kubectl-outrigger and on PATH, runs as `kubectl
# outrigger ...` (krew's naming). PLUGIN_DIR is where install-kubectl-plugin copies it: a directory on PATH.
PLUGIN_DIR ?= $(HOME)/.local/bin
# The platforms of the release archives, one per platform of config/krew/outrigger.yaml (a test checks they agree).
KUBECTL_PLUGIN_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
RELEASE_DIR := $(LOCALBIN)/release

.PHONY: kubectl-plugin
kubectl-plugin: ## Build the CLI as the kubectl plugin bin/kubectl-outrigger (static, stripped).
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $(LOCALBIN)/kubectl-outrigger ./cmd/outrigger

.PHONY: install-kubectl-plugin
install-kubectl-plugin: kubectl-plugin ## Copy bin/kubectl-outrigger into PLUGIN_DIR (default ~/.local/bin), so that `kubectl outrigger` works.
	install -d '$(PLUGIN_DIR)'
	install -m 0755 $(LOCALBIN)/kubectl-outrigger '$(PLUGIN_DIR)/kubectl-outrigger'
	@case ":$$PATH:" in \
		*':$(PLUGIN_DIR):'*) echo 'installed $(PLUGIN_DIR)/kubectl-outrigger: try `kubectl outrigger status -A`';; \
		*) echo '$(PLUGIN_DIR) is not on PATH: add it (export PATH="$(PLUGIN_DIR):$$PATH") for kubectl to find the plugin';; \
	esac

.PHONY: kubectl-plugin-archives
kubectl-plugin-archives: ## The release archives config/krew/outrigger.yaml names, with their sha256, into bin/release/.
	@mkdir -p $(RELEASE_DIR)
	@set -e; for p in $(KUBECTL_PLUGIN_PLATFORMS); do \
		os=$${p%/*} arch=$${p#*/} exe=kubectl-outrigger; [ "$$os" = windows ] && exe=$$exe.exe; \
		dir=$$(mktemp -d); \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags '-s -w' -o $$dir/$$exe ./cmd/outrigger; \
		cp LICENSE $$dir/; \
		archive=$(RELEASE_DIR)/kubectl-outrigger_$${os}_$${arch}.tar.gz; \
		tar -C $$dir -czf $$archive $$exe LICENSE; rm -r $$dir; \
		(cd $(RELEASE_DIR) && sha256sum $${archive##*/} > $${archive##*/}.sha256); \
		echo "$$archive"; \
	done

##@ End to end (a real single-node cluster in .e2e/; needs root; see hack/e2e/README.md)

# How Outrigger runs on the cluster: pod (config/default's Deployment, with the image built from ./cmd/manager as
# the Dockerfile does and imported with ctr) or process (bin/manager on the host, quicker to iterate on).
E2E_OUTRIGGER ?= pod
# How new workloads get their sidecars: webhook (the mutating webhook) or policy (config/components/admission-policy:
# MutatingAdmissionPolicies the manager compiles, run by the apiserver). Changing it reinstalls Outrigger.
E2E_ADMISSION ?= webhook
E2E_UP = E2E_OUTRIGGER=$(E2E_OUTRIGGER) K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/e2e/up.sh
# The scenarios test-e2e-policy runs in policy mode: start and stop order, a Job, the README's log shipper.
E2E_POLICY_TESTS = TestStartAndStopOrder|TestJobCompletesAndSidecarsStopInReverseOrder|TestLogShipperSeesTheAppsLines

.PHONY: e2e-up
e2e-up: $(if $(filter process,$(E2E_OUTRIGGER)),build) ## Start (or keep) the local cluster (containerd, kubelet, control plane) and run Outrigger on it.
	E2E_ADMISSION=$(E2E_ADMISSION) $(E2E_UP)

.PHONY: e2e-down
e2e-down: ## Stop the local cluster and Outrigger; clean up their containers, mounts and the pod bridge.
	hack/e2e/down.sh

.PHONY: test-e2e
test-e2e: e2e-up ## End-to-end tests on the local cluster; leaves it up, unless E2E_DOWN=1.
	E2E_ADMISSION=$(E2E_ADMISSION) E2E_DOWN=$(E2E_DOWN) E2E_TESTFLAGS='$(E2E_TESTFLAGS)' hack/e2e/test.sh

# Its own up.sh run rather than e2e-up, so that `make test-e2e test-e2e-policy` installs each mode in turn.
# E2E_TESTFLAGS are added after the -run of E2E_POLICY_TESTS (a -run of their own replaces it).
.PHONY: test-e2e-policy
test-e2e-policy: $(if $(filter process,$(E2E_OUTRIGGER)),build) ## The order, Job and log-shipper e2e tests with Outrigger in policy mode (reinstalls it); leaves the cluster up, unless E2E_DOWN=1.
	E2E_ADMISSION=policy $(E2E_UP)
	E2E_ADMISSION=policy E2E_DOWN=$(E2E_DOWN) E2E_TESTFLAGS='-run ^($(E2E_POLICY_TESTS))$$ $(E2E_TESTFLAGS)' hack/e2e/test.sh
