#!/bin/sh
# Starts cloud-api-adaptor for $CLOUD_PROVIDER (from peer-pods-cm). Every other setting reaches
# the adaptor as an environment variable named like its flag (docs/configuration.md); the two
# flag-only settings upstream's entrypoint maps from the environment are mapped here too.
set -eu

if [ -z "${CLOUD_PROVIDER:-}" ]; then
  echo "entrypoint: CLOUD_PROVIDER is not set; put it in the peer-pods-cm ConfigMap" >&2
  exit 1
fi

case "${EXTERNAL_NETWORK_VIA_PODVM:-}" in
  [Tt]rue|1) set -- "$@" -ext-network-via-podvm ;;
esac
if [ -n "${POD_SUBNET_CIDRS:-}" ]; then
  set -- "$@" -pod-subnet-cidrs "$POD_SUBNET_CIDRS"
fi

exec /usr/local/bin/cloud-api-adaptor "$CLOUD_PROVIDER" "$@"
