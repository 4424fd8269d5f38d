#!/usr/bin/env bash
# bench_podstart: time from CreateVM to the first agent answer, and StopVM, through the real
# docker and libvirt providers (dockerd; libvirtd + QEMU TCG), median of 5 pods one after the
# other, then 10 pods at once. The adaptor's own share is the time to the agent's answer minus
# the provider's create call (container start; VM define + start + DHCP lease) and minus the
# wait for the pod VM's forwarder to listen, both from the adaptor's log.
# Targets: docker <= 1 s per pod; libvirt bounded by the VM boot, the adaptor's share <= 100 ms.
# Usage: bench_podstart [--smoke] [docker] [libvirt] [disk]   (root; --smoke: docker, 1 pod + 2 at once)
# disk: the production disk image (podvm/build --disk) booted under QEMU TCG, UEFI and BIOS: time
# from QEMU's start to the forwarder answering over mutual TLS (tests/e2e/vm_boot's DiskImage).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$HERE/../.." && pwd)                      # the CMake build directory
ROOT=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BIN/CMakeCache.txt")
smoke=0
disk=0
providers=()
for a in "$@"; do
  case $a in
    --smoke) smoke=1 ;;
    docker | libvirt) providers+=("$a") ;;
    disk) disk=1 ;;
    *) echo "usage: bench_podstart [--smoke] [docker] [libvirt] [disk]" >&2; exit 2 ;;
  esac
done
if ((disk)); then
  echo "bench_podstart: disk image, QEMU TCG: QEMU start -> forwarder answering Health.Check over mutual TLS"
  "$BIN/tests/e2e/vm_boot/vm_boot_test" --gtest_filter='DiskImage/*' >"/tmp/bench_podstart-disk.log" 2>&1 ||
    { cat /tmp/bench_podstart-disk.log >&2; echo "bench_podstart: disk image boot failed" >&2; exit 1; }
  grep -E '^vm_boot: (disk-|podvm/build)|podvm-disk .*(done|up to date|root squashfs)' /tmp/bench_podstart-disk.log
  ((${#providers[@]})) || exit 0
fi
if ((${#providers[@]} == 0)); then
  if ((smoke)); then providers=(docker); else providers=(docker libvirt); fi
fi
serial=5 parallel=10
((smoke)) && serial=1 parallel=2
if [[ $(id -u) -ne 0 ]]; then echo "bench_podstart: needs root (network namespaces, engines)" >&2; exit 1; fi

# shellcheck source=../../scripts/lib/local-env.sh
source "$ROOT/scripts/lib/local-env.sh"

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f\n", m}'; }
maxof() { sort -n | tail -1; }

# pod NAME: runs `true` in a new pod VM; writes NAME.err (peerpodctl's phases) and echoes
# "<ms to agent answer> <ms of StopVM> <sandbox id>".
pod() {
  local name=$1
  ctl run --name "$name" -- true >"$WORK/$name.out" 2>"$WORK/$name.err" || { echo "FAILED $name" >&2; cat "$WORK/$name.err" >&2; return 1; }
  local agent stop id
  agent=$(sed -n 's/^peerpodctl: agent answered .*(total \([0-9]*\) ms)$/\1/p' "$WORK/$name.err")
  stop=$(sed -n 's/^peerpodctl: StopVM *\([0-9]*\) ms.*$/\1/p' "$WORK/$name.err")
  id=$(sed -n 's/^peerpodctl: sandbox \([0-9a-f]*\)$/\1/p' "$WORK/$name.err")
  echo "$agent $stop $id"
}

# boot_ms ID: the provider's create call plus the wait for the forwarder, from the adaptor's log.
boot_ms() {
  local id=$1 create wait
  create=$(grep "$id: instance .* created" "$WORK/adaptor.log" | sed -n 's/.*(\([0-9]*\) ms)$/\1/p' | tail -1)
  wait=$(grep "$id: running; agent reachable" "$WORK/adaptor.log" | sed -n 's/.*reachable \([0-9]*\) ms after.*/\1/p' | tail -1)
  echo $((${create:-0} + ${wait:-0}))
}

rows=()
total_failed=0
for PROVIDER in "${providers[@]}"; do
  WORK=/tmp/ppb$N-$PROVIDER
  trap env_down EXIT
  env_up
  "${PROVIDER}_up" >/dev/null
  # A long proxy timeout: with 10 TCG VMs booting at once on a small machine, boots take minutes.
  extra=(-proxy-timeout 600s)
  [[ $PROVIDER == libvirt ]] && extra+=(-ip-timeout 600s)
  start_adaptor "$PROVIDER" "${extra[@]}" >/dev/null
  pod "warmup-$PROVIDER" >/dev/null  # first pod pays one-time costs (image layers, TLS CA)

  agents=() stops=() shares=()
  for i in $(seq "$serial"); do
    read -r a s id < <(pod "s$i-$PROVIDER")
    b=$(boot_ms "$id")
    agents+=("$a") stops+=("$s") shares+=($((a - b)))
  done
  rows+=("$(printf '%-8s %-9s %5d %12s %12s %14s' "$PROVIDER" serial "$serial" \
    "$(printf '%s\n' "${agents[@]}" | median)" "$(printf '%s\n' "${stops[@]}" | median)" \
    "$(printf '%s\n' "${shares[@]}" | median)")")

  pids=()
  t0=$(date +%s%N)
  for i in $(seq "$parallel"); do pod "p$i-$PROVIDER" >"$WORK/p$i.res" & pids+=($!); done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  wall=$((($(date +%s%N) - t0) / 1000000))
  agents=() stops=() shares=()
  for i in $(seq "$parallel"); do
    read -r a s id <"$WORK/p$i.res" || continue
    [[ -n $id ]] || continue
    b=$(boot_ms "$id")
    agents+=("$a") stops+=("$s") shares+=($((a - b)))
  done
  rows+=("$(printf '%-8s %-9s %5d %12s %12s %14s   max agent %s ms, wall %s ms, failed %d' "$PROVIDER" "at once" "$parallel" \
    "$(printf '%s\n' "${agents[@]}" | median)" "$(printf '%s\n' "${stops[@]}" | median)" \
    "$(printf '%s\n' "${shares[@]}" | median)" "$(printf '%s\n' "${agents[@]}" | maxof)" "$wall" "$failed")")
  total_failed=$((total_failed + failed))
  cp "$WORK/adaptor.log" "/tmp/bench_podstart-$PROVIDER-adaptor.log" 2>/dev/null || true
  left=$(ls "$WORK/pods" | grep -vc '^\.tls$' || true)
  stop_adaptor
  env_down
  trap - EXIT
  ((left == 0)) || { echo "bench_podstart: $left sandbox(es) left behind" >&2; exit 1; }
  N=$((N + 1)); NSW=ppe-w$N; NSP=ppe-p$N; LVNET=ppe-net$N; LVBR=ppbr$N
  DOCKERD_PID=; LIBVIRTD_PID=; VIRTLOGD_PID=
done

echo "bench_podstart: CreateVM -> first agent answer (Health.Check), and StopVM, in ms (medians)"
echo "adaptor share = time to agent answer - provider create - wait for the forwarder (adaptor log)"
echo
printf '%-8s %-9s %5s %12s %12s %14s\n' provider mode pods "to agent" StopVM "adaptor share"
printf '%s\n' "${rows[@]}"
echo
echo "targets: docker <= 1000 ms to agent per pod; libvirt adaptor share <= 100 ms"
echo "(the adaptor logs of the last run: /tmp/bench_podstart-<provider>-adaptor.log)"
((total_failed == 0)) || { echo "bench_podstart: $total_failed pod(s) failed" >&2; exit 1; }
