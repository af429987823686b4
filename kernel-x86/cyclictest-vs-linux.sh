#!/usr/bin/env bash
# irqkit's cyclictest boot against Linux's, side by side, in alternating rounds.
#
#   kernel-x86/cyclictest-vs-linux.sh [--rounds N]     (default 10)
#
# Each round runs, one after the other (the two guests in alternating order):
# - irqkit: `run.sh --cyclictest` (a FIFO 80 thread on a 1 ms high-resolution timer,
#   2000 loops);
# - Linux: `cyclictest -t1 -p 80 -i 1000 -l 2000` booted by ../shared/tools/
#   linux-cyclictest.sh (or $LINUX_CYCLICTEST) in the same QEMU configuration;
# - host: the same cyclictest binary on this machine itself, outside QEMU, at normal
#   priority like QEMU's own threads, leaving /dev/cpu_dma_latency alone (--laptop).
#   It shows how late this host wakes an ordinary thread: a guest's timer interrupt
#   waits for QEMU's threads, so a host stall of a few ms shows up as that guest's
#   maximum whatever the guest does.
# Then: in how many rounds each guest had the lower average and the lower maximum,
# and the medians. A single round's maximum compares two draws of the host's stalls.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rounds=10
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="$2"; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "cyclictest-vs-linux.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

linux="${LINUX_CYCLICTEST:-$here/../../shared/tools/linux-cyclictest.sh}"
if [[ ! -f "$linux" ]]; then
    echo "cyclictest-vs-linux.sh: no Linux reference script at $linux (set LINUX_CYCLICTEST)" >&2
    exit 2
fi
# The reference script unpacks Debian's rt-tests here; the host probe runs that binary.
export WORK="${WORK:-/tmp/linux-cyclictest}"
probe="$WORK/x/usr/bin/cyclictest"

# "Avg" and "Max" of a cyclictest summary line.
field() { tr -d '\r' | awk -v f="$1:" '{ for (i = 1; i < NF; i++) if ($i == f) { print $(i + 1); exit } }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

ia=(); im=(); la=(); lm=(); hm=()
avg_wins=0
max_wins=0
printf '%-6s %22s %22s %14s\n' round "irqkit avg / max (us)" "linux avg / max (us)" "host max (us)"
for ((r = 1; r <= rounds; r++)); do
    # Alternate which guest goes first: what ran just before (a 5 s Linux boot, the
    # probe) could shift the host's behaviour, and must not favour either guest.
    if ((r % 2)); then
        ours="$("$here/run.sh" --cyclictest | grep '^T:')"
        theirs="$(sh "$linux" | grep '^T:')"
    else
        theirs="$(sh "$linux" | grep '^T:')"
        ours="$("$here/run.sh" --cyclictest | grep '^T:')"
    fi
    if [[ -z "$ours" || -z "$theirs" ]]; then
        echo "cyclictest-vs-linux.sh: round $r: a guest printed no summary" >&2
        exit 1
    fi
    host="-"
    if [[ -x "$probe" ]]; then
        host="$("$probe" -t1 -i 1000 -l 2000 -q --laptop 2>/dev/null | grep '^T:' | field Max)"
        hm+=("$host")
    fi
    ia+=("$(field Avg <<<"$ours")"); im+=("$(field Max <<<"$ours")")
    la+=("$(field Avg <<<"$theirs")"); lm+=("$(field Max <<<"$theirs")")
    ((ia[-1] < la[-1])) && avg_wins=$((avg_wins + 1))
    ((im[-1] < lm[-1])) && max_wins=$((max_wins + 1))
    printf '%-6s %22s %22s %14s\n' "$r" "${ia[-1]} / ${im[-1]}" "${la[-1]} / ${lm[-1]}" "$host"
done
printf '%-6s %22s %22s %14s\n' median "$(median "${ia[@]}") / $(median "${im[@]}")" \
    "$(median "${la[@]}") / $(median "${lm[@]}")" "$( ((${#hm[@]})) && median "${hm[@]}" || echo -)"
echo "irqkit lower: average in $avg_wins of $rounds rounds, maximum in $max_wins of $rounds"
if ((${#hm[@]})); then
    stalls=$(printf '%s\n' "${hm[@]}" | awk '$1 >= 1000' | wc -l)
    echo "host probe: a wake-up 1 ms or more late in $stalls of ${#hm[@]} rounds"
fi
