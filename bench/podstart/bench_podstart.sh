#!/usr/bin/env bash
# bench_podstart: time from CreateVM to the first agent answer, and StopVM, through the real
# docker and libvirt providers (dockerd; libvirtd + QEMU TCG), median of 5 pods one after the
# other, then 10 pods at once (BENCH_SERIAL, BENCH_PARALLEL change the counts).
# The adaptor's own share of a pod start is measured directly, from its log: CreateVM, StartVM's
# steps besides the provider's create and the wait for the forwarder (state saves, network
# setup, proxy setup), and the pause between the last refused dial of the forwarder and the one
# that connected (the forwarder may have listened during it). The rest is the guest's (provider
# create incl. VM boot and DHCP; the forwarder starting; TCP/TLS and the first call's answer).
# Its CPU per pod is the adaptor process's CPU time (/proc/<pid>/stat) over a whole serial pod
# (start, the `true` container, stop). For docker, the CPU of dockerd, containerd, the shims
# and runc, and of the pod VM containers, per pod started at once (cgroup cpuacct), and what
# ten of them need of this machine's cores.
# The pods dir is on a tmpfs, as /run/peerpod is on a node.
# Targets: docker <= 1 s per pod; libvirt bounded by the VM boot, the adaptor's own share <= 50 ms.
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
serial=${BENCH_SERIAL:-5} parallel=${BENCH_PARALLEL:-10}
((smoke)) && serial=1 parallel=2
if [[ $(id -u) -ne 0 ]]; then echo "bench_podstart: needs root (network namespaces, engines)" >&2; exit 1; fi

# shellcheck source=../../scripts/lib/local-env.sh
source "$ROOT/scripts/lib/local-env.sh"

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f\n", m}'; }
maxof() { sort -n | tail -1; }
# verdict WHAT VALUE TARGET: a target line with the ratio (values in ms; lower is better).
verdict() {
  awk -v what="$1" -v v="$2" -v t="$3" 'BEGIN {
    if (v == "-") { printf "target: %s <= %d ms: not measured\n", what, t; exit }
    printf "target: %s <= %d ms: %s (%d ms, ratio %.2fx)\n", what, t, (v <= t ? "met" : "MISSED"), v, v / t }'
}

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

# own_ms ID: the adaptor's own time in the pod start of sandbox ID (see the header), from its log.
own_ms() {
  local id=$1
  {
    grep -F "create a sandbox $id " "$WORK/adaptor.log" | sed -n 's/.*vni=[0-9]* (\([0-9.]*\) ms.*/\1/p' | tail -1
    grep -F "$id: running; agent reachable" "$WORK/adaptor.log" | tail -1 |
      sed -n 's/.*before the provider \([0-9.]*\) ms.*after it \([0-9.]*\) ms.*final state save \([0-9.]*\) ms.*/\1 \2 \3/p'
    grep -F "forwarder reached" "$WORK/adaptor.log" | grep -F "$id" | tail -1 |
      sed -n 's/.*pause before the connecting dial \([0-9.]*\) ms.*/\1/p'
  } | awk '{for (i = 1; i <= NF; i++) t += $i} END {printf "%.0f\n", t}'
}
# startvm_cpu_ms ID: the adaptor process's CPU during the StartVM of ID (its log).
startvm_cpu_ms() {
  grep -F "$1: running; agent reachable" "$WORK/adaptor.log" | tail -1 | sed -n 's/.*CPU meanwhile \([0-9.]*\) ms.*/\1/p'
}
HZ=$(getconf CLK_TCK)
adaptor_cpu_ms() { awk -v hz="$HZ" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$ADAPTOR_PID/stat"; }
# The cpuacct cgroup (v1) of this run's dockerd and what it starts (containerd, shims, runc);
# containers go to docker's own cgroup parent, "docker". Empty where there is none.
CG_V1=/sys/fs/cgroup/cpuacct
engine_cg() {
  ENGINE_CG=
  [[ -d $CG_V1 && -n $DOCKERD_PID ]] || return 0
  ENGINE_CG=$CG_V1/ppb$N-engine
  mkdir -p "$ENGINE_CG"
  local p
  for p in $DOCKERD_PID $(pgrep -f "containerd .*$WORK/" || true); do echo "$p" >"$ENGINE_CG/cgroup.procs" 2>/dev/null || true; done
}
cg_ns() { if [[ -n $ENGINE_CG ]]; then echo "$(cat "$ENGINE_CG/cpuacct.usage") $(cat "$CG_V1/docker/cpuacct.usage" 2>/dev/null || echo 0)"; else echo "0 0"; fi; }

rows=()
notes=()
verdicts=()
total_failed=0
for PROVIDER in "${providers[@]}"; do
  WORK=/tmp/ppb$N-$PROVIDER
  trap 'env_down; [[ -n ${ENGINE_CG:-} ]] && rmdir "$ENGINE_CG" 2>/dev/null' EXIT
  env_up
  mkdir -p "$WORK/pods"
  mount -t tmpfs -o mode=0755,size=64m "ppb$N-pods" "$WORK/pods"
  "${PROVIDER}_up" >/dev/null
  ENGINE_CG=
  [[ $PROVIDER == docker ]] && engine_cg
  # A long proxy timeout: with 10 TCG VMs booting at once on a small machine, boots take minutes.
  extra=(-proxy-timeout 600s)
  [[ $PROVIDER == libvirt ]] && extra+=(-ip-timeout 600s)
  start_adaptor "$PROVIDER" "${extra[@]}" >/dev/null
  pod "warmup-$PROVIDER" >/dev/null  # first pod pays one-time costs (image layers, TLS CA)

  agents=() stops=() owns=() svcpus=() guests=()
  c0=$(adaptor_cpu_ms)  # in clock ticks (10 ms): the mean over the serial pods
  for i in $(seq "$serial"); do
    read -r a s id < <(pod "s$i-$PROVIDER")
    o=$(own_ms "$id")
    agents+=("$a") stops+=("$s") owns+=("$o") svcpus+=("$(startvm_cpu_ms "$id")")
    guests+=($((a - o)))
  done
  c1=$(adaptor_cpu_ms)
  verdicts+=("$(verdict "$PROVIDER, the adaptor's own share of a pod start (serial median)" \
    "$(printf '%s\n' "${owns[@]}" | median)" 50)")
  rows+=("$(printf '%-8s %-9s %5d %9s %8s %11s %11s %10s %8s' "$PROVIDER" serial "$serial" \
    "$(printf '%s\n' "${agents[@]}" | median)" "$(printf '%s\n' "${stops[@]}" | median)" \
    "$(printf '%s\n' "${owns[@]}" | median)" "$(printf '%s\n' "${svcpus[@]}" | median)" \
    "$(((c1 - c0) / serial))" "$(printf '%s\n' "${guests[@]}" | median)")")

  pids=()
  read -r e0 k0 < <(cg_ns)
  c0=$(adaptor_cpu_ms)
  t0=$(date +%s%N)
  for i in $(seq "$parallel"); do pod "p$i-$PROVIDER" >"$WORK/p$i.res" & pids+=($!); done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  wall=$((($(date +%s%N) - t0) / 1000000))
  c1=$(adaptor_cpu_ms)
  read -r e1 k1 < <(cg_ns)
  agents=() stops=() owns=() svcpus=() guests=()
  for i in $(seq "$parallel"); do
    read -r a s id <"$WORK/p$i.res" || continue
    [[ -n $id ]] || continue
    o=$(own_ms "$id")
    agents+=("$a") stops+=("$s") owns+=("$o") svcpus+=("$(startvm_cpu_ms "$id")") guests+=($((a - o)))
  done
  ok=$((parallel - failed))
  ((ok > 0)) || ok=1
  [[ $PROVIDER != docker ]] || verdicts+=("$(verdict "docker, CreateVM to agent with $parallel pods at once (median)" \
    "$(printf '%s\n' "${agents[@]}" | median)" 1000)")
  rows+=("$(printf '%-8s %-9s %5d %9s %8s %11s %11s %10s %8s   max agent %s ms, wall %s ms, failed %d' "$PROVIDER" "at once" "$parallel" \
    "$(printf '%s\n' "${agents[@]}" | median)" "$(printf '%s\n' "${stops[@]}" | median)" \
    "$(printf '%s\n' "${owns[@]}" | median)" "$(printf '%s\n' "${svcpus[@]}" | median)" \
    "$(((c1 - c0) / ok))" "$(printf '%s\n' "${guests[@]}" | median)" \
    "$(printf '%s\n' "${agents[@]}" | maxof)" "$wall" "$failed")")
  if [[ -n $ENGINE_CG ]]; then
    # Per pod started and stopped at once: the engine's CPU (dockerd incl. its re-executions
    # for libnetwork, containerd, shims, runc) and the pod VM container's own.
    eng=$(((e1 - e0) / 1000000 / ok)) ctr=$(((k1 - k0) / 1000000 / ok)) cores=$(nproc)
    need=$((parallel * (eng + ctr + (c1 - c0) / ok) / cores))
    notes+=("$PROVIDER at once: CPU per pod (start and stop): engine $eng ms, pod VM container $ctr ms, adaptor $(((c1 - c0) / ok)) ms;
  $parallel pods need $need ms of this machine's $cores cores (load before the run: $(cut -d' ' -f1-3 /proc/loadavg))")
  fi
  total_failed=$((total_failed + failed))
  cp "$WORK/adaptor.log" "/tmp/bench_podstart-$PROVIDER-adaptor.log" 2>/dev/null || true
  left=$(ls "$WORK/pods" | grep -vc '^\.tls$' || true)
  stop_adaptor
  env_down
  [[ -n $ENGINE_CG ]] && rmdir "$ENGINE_CG" 2>/dev/null
  trap - EXIT
  ((left == 0)) || { echo "bench_podstart: $left sandbox(es) left behind" >&2; exit 1; }
  N=$((N + 1)); NSW=ppe-w$N; NSP=ppe-p$N; LVNET=ppe-net$N; LVBR=ppbr$N
  DOCKERD_PID=; LIBVIRTD_PID=; VIRTLOGD_PID=
done

echo "bench_podstart: CreateVM -> first agent answer (Health.Check), and StopVM, in ms (medians)"
echo "own: the adaptor's own time in the start (CreateVM, StartVM's steps besides provider and forwarder,"
echo "     the pause before the dial that reached the forwarder); StartVM CPU: the adaptor's CPU in StartVM"
echo "     (process-wide: with pods at once, others' too); CPU/pod: adaptor CPU per pod (start, run, stop; mean)"
echo "     guest: to agent - own (provider create incl. boot, forwarder start, TLS, the first answer)"
echo
printf '%-8s %-9s %5s %9s %8s %11s %11s %10s %8s\n' provider mode pods "to agent" StopVM "own" "StartVM CPU" "CPU/pod" guest
printf '%s\n' "${rows[@]}"
echo
((${#notes[@]} == 0)) || printf '%s\n' "${notes[@]}"
printf '%s\n' "${verdicts[@]}"
echo "(the adaptor logs of the last run: /tmp/bench_podstart-<provider>-adaptor.log)"
((total_failed == 0)) || { echo "bench_podstart: $total_failed pod(s) failed" >&2; exit 1; }
