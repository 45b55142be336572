#!/bin/sh
# One-shot job (temporalio/admin-tools, or anywhere the `temporal` CLI runs): the
# namespace ytsync runs in, and the search attributes its workflows set, so the Web UI
# can list "every paused job" or "the jobs of channel bob".  Safe to run again: what
# exists is left as it is.
#
#   TEMPORAL_ADDRESS=temporal:7233 YTSYNC_NAMESPACE=ytsync sh deploy/temporal-setup.sh
#
# The `temporal` CLI also reads TEMPORAL_API_KEY, TEMPORAL_TLS_* and config profiles,
# so the same script sets up a secured cluster.
set -eu

NAMESPACE=${YTSYNC_NAMESPACE:-ytsync}
RETENTION=${YTSYNC_NAMESPACE_RETENTION:-30d}
ATTEMPTS=${YTSYNC_SETUP_ATTEMPTS:-60}
# name:type of every search attribute ytsync's workflows upsert.
ATTRIBUTES="YtsyncStage:Keyword YtsyncChannel:Keyword YtsyncProgress:Int YtsyncResumeAt:Datetime"

retry() {
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
      echo "gave up after $ATTEMPTS attempts: $*" >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
}

namespace_ready() {
  temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1 ||
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
}

# A new namespace takes a moment to reach every frontend: retried until it has.
attribute_ready() {
  temporal operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$1" ||
    temporal operator search-attribute create --namespace "$NAMESPACE" --name "$1" --type "$2"
}

retry temporal operator cluster health
retry namespace_ready
for attribute in $ATTRIBUTES; do
  retry attribute_ready "${attribute%%:*}" "${attribute#*:}"
done
echo "Temporal namespace $NAMESPACE ready for ytsync"
