#!/usr/bin/env bash
# Builds the irqkit x86_64 kernel image and boots it in QEMU (TCG).
#
#   kernel-x86/run.sh [--selftest | --shell-test | --cyclictest | --boot-time [--runs N]] [--smp N]
#                     [--timeout S] [--elf IMAGE]
#   (cd kernel-x86 && cargo selftest)   # the same through cargo's runner
#
# --boot-time: boots the shell image (the interactive boot's QEMU arguments) N times
# (default 5) per -smp (default 1 and 4), waits for the "# " prompt on the serial
# console, stops QEMU, and prints each boot's wall time from QEMU's start to the
# prompt and the kernel's own TSC figure (kmain to the prompt), then their medians.
# --cyclictest: boots the same way ../shared/tools/linux-cyclictest.sh boots Linux
# (default machine, -m 512M) and prints a cyclictest-style summary line of a FIFO 80
# thread sleeping on a 1 ms high-resolution timer, 2000 loops.
# --shell-test: boots the shell (-smp 2 unless --smp), types `cat /proc/interrupts`
# twice a second apart, `cat /proc/softirqs`, an unknown command and `poweroff`, and
# passes if each answered and CPU 0 (the shell's, idle between keystrokes) took fewer
# timer interrupts in that second than half its 250 Hz tick would give.
# Without --selftest: an interactive serial shell on stdio (`cat /proc/interrupts`).
# With --selftest: boots with the command line `selftest`, types the serial test
# pattern once the kernel prints SERIAL-READY (and presses A on the PS/2 keyboard
# through the QEMU monitor at KBD-READY), and exits 0 only if the kernel exits
# through isa-debug-exit with the pass code (QEMU status 33). With no --smp it runs
# -smp 1 and then -smp 4.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
selftest=0
cyclic=0
shelltest=0
boottime=0
runs=5
smps=()
limit=60
elf=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --selftest) selftest=1 ;;
        --cyclictest) cyclic=1 ;;
        --shell-test) shelltest=1 ;;
        --boot-time) boottime=1 ;;
        --runs) runs="$2"; shift ;;
        --smp) smps+=("$2"); shift ;;
        --timeout) limit="$2"; shift ;;
        --elf) elf="$2"; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    echo "run.sh: installing qemu-system-x86" >&2
    if [[ $(id -u) -eq 0 ]]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq qemu-system-x86 >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
if [[ -n "$elf" ]]; then
    # Called as cargo's runner (`cargo run --release -- --selftest`): already built.
    elf64="$elf"
else
    (cd "$here" && cargo build --release --quiet)
    elf64="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/irqkit-kernel-x86"
fi
image="$elf64.elf32"
# QEMU's multiboot loader refuses ELF64; the code inside stays 64-bit. binutils'
# objcopy, or the toolchain's rust-objcopy (which needs the sysroot's libLLVM).
if command -v objcopy >/dev/null 2>&1; then
    objcopy -O elf32-i386 "$elf64" "$image"
else
    sysroot="$(rustc --print sysroot)"
    LD_LIBRARY_PATH="$sysroot/lib" \
        "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-objcopy" -O elf32-i386 "$elf64" "$image"
fi

qemu_args=(-machine q35 -m 256M -display none -no-reboot -monitor none -device edu -device virtio-rng-pci
           -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$image")

if [[ $cyclic -eq 1 ]]; then
    set +e
    timeout "$limit" qemu-system-x86_64 -display none -no-reboot -monitor none -m 512M \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$image" -append cyclictest \
        -smp "${smps[0]:-1}" -serial stdio </dev/null | grep -E '^(T:|cyclictest|panic)'
    rc=${PIPESTATUS[0]}
    set -e
    [[ $rc -eq 33 ]] && exit 0
    echo "run.sh: cyclictest failed (qemu status $rc)" >&2
    exit 1
fi

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

if [[ $boottime -eq 1 ]]; then
    [[ ${#smps[@]} -eq 0 ]] && smps=(1 4)
    status=0
    for n in "${smps[@]}"; do
        walls=()
        kerns=()
        for ((i = 1; i <= runs; i++)); do
            work="$(mktemp -d)"
            mkfifo "$work/out"
            start=$(date +%s%N)
            qemu-system-x86_64 "${qemu_args[@]}" -smp "$n" -serial stdio </dev/null >"$work/out" 2>"$work/err" &
            qpid=$!
            exec 6<"$work/out"
            wall=""
            kern=""
            while IFS= read -r -t "$limit" line <&6; do
                line="${line%$'\r'}"
                if [[ "$line" == boot:* ]]; then kern="$(awk '{ print $2 }' <<<"$line")"; fi
                if [[ "$line" == "irqkit shell;"* ]]; then
                    if IFS= read -r -N 2 -t "$limit" prompt <&6 && [[ "$prompt" == "# " ]]; then
                        wall=$((($(date +%s%N) - start) / 1000000))
                    fi
                    break
                fi
            done
            kill "$qpid" 2>/dev/null || true
            wait "$qpid" 2>/dev/null || true
            exec 6<&-
            if [[ -z "$wall" || -z "$kern" ]]; then
                echo "run.sh: -smp $n boot $i: no shell prompt within ${limit}s" >&2
                cat "$work/err" >&2
                rm -rf "$work"
                status=1
                continue
            fi
            rm -rf "$work"
            echo "run.sh: -smp $n boot $i: ${wall} ms to the prompt (QEMU start), kernel ${kern} ms (kmain, TSC)"
            walls+=("$wall")
            kerns+=("$kern")
        done
        if [[ ${#walls[@]} -gt 0 ]]; then
            echo "run.sh: -smp $n boot time, median of ${#walls[@]}: $(median "${walls[@]}") ms wall, $(median "${kerns[@]}") ms kernel (TSC)"
        fi
    done
    exit $status
fi

if [[ $shelltest -eq 1 ]]; then
    work="$(mktemp -d)"
    mkfifo "$work/in"
    exec 3<>"$work/in"
    set +e
    # Each step waits for the previous answer; the reader prints what it checked.
    timeout "$limit" qemu-system-x86_64 "${qemu_args[@]}" -smp "${smps[0]:-2}" -serial stdio <&3 |
        {
            loc=(); soft=0; unknown=0
            while IFS= read -r line; do
                line="${line%$'\r'}"
                printf '%s\n' "$line"
                case "$line" in
                    "irqkit shell;"*) printf 'cat /proc/interrupts\r' >&3 ;;
                    *"LOC:"*)
                        loc+=("$(awk '{ print $1 }' <<<"${line#*LOC:}")")
                        if [[ ${#loc[@]} -eq 1 ]]; then
                            sleep 1
                            printf 'cat /proc/interrupts\r' >&3
                        else
                            printf 'cat /proc/softirqs\r' >&3
                        fi ;;
                    *"TIMER:"*) soft=1; printf 'frobnicate\r' >&3 ;;
                    "frobnicate: command not found") unknown=1; printf 'poweroff\r' >&3 ;;
                esac
            done
            if [[ ${#loc[@]} -eq 2 && $soft -eq 1 && $unknown -eq 1 ]] &&
                (( loc[1] - loc[0] < 125 )); then
                echo "run.sh: shell test PASSED (CPU 0: $((loc[1] - loc[0])) timer interrupts in the idle second)"
                exit 0
            fi
            echo "run.sh: shell test FAILED (LOC samples: ${loc[*]:-none}, softirqs: $soft, unknown command: $unknown)" >&2
            exit 1
        }
    rc=${PIPESTATUS[1]}  # the checker's verdict (QEMU exits 1 on poweroff)
    set -e
    exec 3>&-
    rm -rf "$work"
    exit $rc
fi

if [[ $selftest -eq 0 ]]; then
    exec qemu-system-x86_64 "${qemu_args[@]}" -smp "${smps[0]:-4}" -serial stdio
fi

[[ ${#smps[@]} -eq 0 ]] && smps=(1 4)
pattern='irqkit serial selftest: 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ'
status=0
for n in "${smps[@]}"; do
    work="$(mktemp -d)"
    mkfifo "$work/in" "$work/mon.in" "$work/mon.out"
    # Hold the fifos open read-write so neither side blocks on open or sees EOF early;
    # the monitor's output is drained so QEMU never blocks writing it.
    exec 3<>"$work/in" 4<>"$work/mon.in" 5<>"$work/mon.out"
    cat <&5 >/dev/null &
    drain=$!
    start=$(date +%s.%N)
    set +e
    timeout "$limit" qemu-system-x86_64 "${qemu_args[@]}" -smp "$n" -append selftest \
        -chardev pipe,id=mon,path="$work/mon" -mon chardev=mon,mode=readline \
        -serial stdio <&3 | while IFS= read -r line; do
            printf '%s\n' "$line"
            if [[ "$line" == *SERIAL-READY* ]]; then printf '%s\n' "$pattern" >&3; fi
            if [[ "$line" == *KBD-READY* ]]; then printf 'sendkey a\n' >&4; fi
        done
    rc=${PIPESTATUS[0]}
    set -e
    kill "$drain" 2>/dev/null || true
    exec 3>&- 4>&- 5>&-
    rm -rf "$work"
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    if [[ $rc -eq 33 ]]; then
        echo "run.sh: -smp $n selftest PASSED in ${secs}s"
    else
        echo "run.sh: -smp $n selftest FAILED (qemu status $rc) after ${secs}s" >&2
        status=1
    fi
done
exit $status
