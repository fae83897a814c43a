#!/usr/bin/env bash
# Installs the external programs that pushkit's benchmarks and tests talk to:
#   - prometheus-pushgateway: the reference server we compare against
#   - golang-go + Debian's Go sources of prometheus/common and client_golang:
#     lets us build offline (GOPATH mode) the Go text-parser baseline of the
#     benchmarks and the client_golang pusher of test/integration/clients.test.ts
#   - python3-prometheus-client: the Python client library pushing in the same
#     tests (run with /usr/bin/python3, Debian's interpreter)
#   - curl: the README examples of the tests are run with the real binary
#   - influxdb (1.6), victoria-metrics, prometheus (2.42): the real backends the
#     network sinks are tested against (started by the tests on loopback ports;
#     the packages' own services are not used)
#   - wrk: the HTTP load generator shared by both targets
#   - apache2-utils, openssl: htpasswd -nbB writes the bcrypt users files and openssl the
#     certificates of the authentication and TLS tests, as users make them
#   - chromium: the real browser (driven by playwright-core, which downloads
#     nothing) that the status page of the pushgateway input is tested in
#   - kubernetes-client (kubectl 1.20): renders deploy/kubernetes offline with
#     `kubectl kustomize` in test/deploy; only when no kubectl is there already
#
# Idempotent: packages already installed are skipped, and `apt-get update`
# runs at most once, only when something is actually missing. Run as root.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  prometheus-pushgateway
  golang-go
  golang-github-prometheus-common-dev
  golang-github-prometheus-client-golang-dev
  python3-prometheus-client
  curl
  influxdb
  victoria-metrics
  prometheus
  wrk
  apache2-utils
  openssl
  chromium
)

# Any kubectl renders the manifests. Some machine images already have /usr/bin/kubectl from
# another package (Google Cloud's `kubectl`), over which dpkg refuses to install Debian's.
if ! command -v kubectl >/dev/null 2>&1; then
  PACKAGES+=(kubernetes-client)
fi

is_installed() {
  # `dpkg -s` also succeeds for packages that were removed but not purged, so
  # compare the status itself. Read it into a variable: piping dpkg's output
  # into `grep -q` under pipefail fails whenever grep exits before dpkg has
  # written everything (SIGPIPE), as it does for prometheus's long record.
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! is_installed "$pkg"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-peers: all peer packages already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-peers: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "setup-peers: installing ${missing[*]}"
# apt and debconf are chatty even with -qq; keep their output in a log and
# show it only when a step fails.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
run_quiet() {
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup-peers: failed: $*" >&2
    exit 1
  fi
}
run_quiet apt-get update -qq
run_quiet apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Fail loudly if apt claimed success but something is still absent.
for pkg in "${missing[@]}"; do
  if ! is_installed "$pkg"; then
    echo "setup-peers: $pkg is still not installed" >&2
    exit 1
  fi
done
echo "setup-peers: done"
