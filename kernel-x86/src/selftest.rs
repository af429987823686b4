//! The boot self-test: exceptions, lazy mask, ticks, IPIs; devices, bottom halves,
//! workqueues and threads in siblings.
//!
//! Run by the bootstrap CPU with the command line `selftest`; every check prints a
//! `PASS`/`FAIL` line and the boot exits through isa-debug-exit with
//! [`crate::EXIT_PASS`] only if all passed. The IPI test is sequential (one CPU at a
//! time pings every CPU, itself included, and waits for each answer), so exactly one
//! IPI is in flight at any time and the CAL counts are exact: every CPU takes one CAL
//! per ping it answers and one per answer it receives, `2 * nr_cpus` in all.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use irqkit_core::{CpuId, Ipi};

use crate::lapic::{self, CALL_FUNCTION_VECTOR, IRQ_WORK_VECTOR, RESCHEDULE_VECTOR};
use crate::traps::{self, class_code, Class};
use crate::{
    arch, ex_table, kprintln, percpu, platform, selftest_bh, selftest_devices, selftest_heap,
    selftest_msi, selftest_nohz, selftest_proc, selftest_sched, selftest_storm, selftest_timer,
    selftest_wq, shell, tick_sched,
};

/// Ticks every CPU must have taken (40 ms at HZ=250).
const MIN_TICKS: u64 = 10;
/// One second in nanoseconds.
pub const SECOND: u64 = 1_000_000_000;

/// Whose turn it is in the IPI test (`usize::MAX`: not started).
static TURN: AtomicUsize = AtomicUsize::new(usize::MAX);
static NR_ONLINE: AtomicUsize = AtomicUsize::new(0);
/// Bit `c`: CPU `c` got every answer in its turn.
static IPI_OK: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicBool = AtomicBool::new(false);

/// Prints a PASS/FAIL line and remembers a failure.
pub fn check(ok: bool, what: core::fmt::Arguments<'_>) {
    if ok {
        kprintln!("PASS {}", what);
    } else {
        kprintln!("FAIL {}", what);
        FAILED.store(true, Ordering::Relaxed);
    }
}

/// The value of a hex CPU mask as `/proc/irq/N/smp_affinity` prints it (zero-padded
/// to the number of CPUs, e.g. `01` with 8 CPUs).
pub fn hex_mask(text: &Result<alloc::string::String, irqkit_core::IrqError>) -> Option<u64> {
    let t = text.as_ref().ok()?;
    u64::from_str_radix(t.trim(), 16).ok()
}

/// `echo MASK > /proc/irq/N/smp_affinity`, retried for up to 2 s while it answers
/// EBUSY: a previous move of the irq is complete only once its old CPU released the old
/// vector (at that CPU's next tick), and on a loaded host that vCPU may not run for a
/// while. A user would retry the same way.
pub fn write_affinity(irq: u32, mask: &str) -> Result<usize, irqkit_core::IrqError> {
    let sys = platform::system();
    let file = irqkit_core::irq::ProcIrqFile::SmpAffinity;
    let mut r = sys.proc_irq_write(irq, file, mask);
    wait_for(2 * SECOND, || {
        if !matches!(r, Err(irqkit_core::IrqError::Busy(_))) {
            return true;
        }
        r = sys.proc_irq_write(irq, file, mask);
        false
    });
    r
}

/// Spins until `cond` or `ns` nanoseconds pass; returns the last value of `cond`.
pub fn wait_for(ns: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = lapic::now_ns() + ns;
    while !cond() {
        if lapic::now_ns() > deadline {
            return cond();
        }
        core::hint::spin_loop();
    }
    true
}

/// Raises one exception with `trigger` and checks what the handler recorded.
fn expect_exception(
    name: &str,
    vector: u64,
    class: Class,
    fixed_up: bool,
    cr2: Option<u64>,
    trigger: impl FnOnce(),
) {
    let r = traps::report(percpu::this_cpu());
    let before = r.count.load(Ordering::Acquire);
    trigger();
    let arrived = wait_for(SECOND, || r.count.load(Ordering::Acquire) == before + 1);
    let ok = arrived
        && r.vector.load(Ordering::Relaxed) == vector
        && r.class.load(Ordering::Relaxed) == class_code(class)
        && (r.fixed_up.load(Ordering::Relaxed) == 1) == fixed_up
        && cr2.is_none_or(|a| r.cr2.load(Ordering::Relaxed) == a);
    check(
        ok,
        format_args!(
            "exception {name} reported as {class:?} (vector {vector}){}",
            if fixed_up { ", recovered by fixup" } else { "" }
        ),
    );
}

fn test_exceptions() {
    expect_exception("#DE", 0, Class::Fault, true, None, || {
        // SAFETY: divides by zero; the fault resumes at label 3 via the exception table.
        unsafe {
            asm!("xor edx, edx", "xor ecx, ecx", "mov eax, 1", "2: div ecx", "3:", ex_table!("2b", "3b"),
                 out("eax") _, out("ecx") _, out("edx") _)
        }
    });
    expect_exception("#UD", 6, Class::Fault, true, None, || {
        // SAFETY: ud2 faults; resumes at label 3.
        unsafe { asm!("2: ud2", "3:", ex_table!("2b", "3b")) }
    });
    expect_exception("#GP", 13, Class::Fault, true, None, || {
        // SAFETY: a load from a non-canonical address faults with #GP; resumes at 3.
        unsafe {
            asm!("2: mov rax, qword ptr [rcx]", "3:", ex_table!("2b", "3b"),
                 in("rcx") 0x8000_0000_0000_0000u64, out("rax") _)
        }
    });
    const UNMAPPED: u64 = 0x1_0000_0000; // only the first 4 GiB are mapped
    expect_exception("#PF", 14, Class::Fault, true, Some(UNMAPPED), || {
        // SAFETY: a load from an unmapped address faults with #PF; resumes at 3.
        unsafe {
            asm!("2: mov rax, qword ptr [rcx]", "3:", ex_table!("2b", "3b"), in("rcx") UNMAPPED, out("rax") _)
        }
    });
    expect_exception("#BP", 3, Class::Trap, false, None, || {
        // SAFETY: int3 traps and resumes after itself.
        unsafe { asm!("int3") }
    });
    expect_exception("NMI", 2, Class::Interrupt, false, None, lapic::send_self_nmi);
}

/// An interrupt that arrives under irqkit's soft mask is held off and replayed once
/// when the mask is lifted.
fn test_lazy_mask() {
    let sys = platform::system();
    let area = percpu::this_area();
    let cpu = sys.this_cpu();
    let before = area.count(IRQ_WORK_VECTOR);
    let deferred_before = area.deferred_count.load(Ordering::Relaxed);
    let flags = sys.local_irq_save();
    let sent = sys.platform().send_ipi(CpuId(percpu::this_cpu() as u32), Ipi::IrqWork).is_ok();
    let deferred = wait_for(SECOND, || cpu.irq_deferred());
    let during = area.count(IRQ_WORK_VECTOR);
    sys.local_irq_restore(flags);
    let after = area.count(IRQ_WORK_VECTOR);
    check(
        sent && deferred
            && during == before
            && after == before + 1
            && area.deferred_count.load(Ordering::Relaxed) == deferred_before + 1
            && arch::hw_irqs_enabled(),
        format_args!("self IPI under local_irq_save deferred, replayed once at restore"),
    );
}

/// Pings every online CPU from `cpu` and waits for each answer.
fn ping_all(cpu: usize) {
    let sys = platform::system();
    let me = percpu::area(cpu);
    let n = NR_ONLINE.load(Ordering::Acquire);
    let mut ok = true;
    for dst in 0..n {
        percpu::area(dst).ping_from.fetch_or(1 << cpu, Ordering::AcqRel);
        if sys.platform().send_ipi(CpuId(dst as u32), Ipi::CallFunction).is_err() {
            ok = false;
            continue;
        }
        ok &= wait_for(SECOND, || me.pong_from.load(Ordering::Acquire) & (1 << dst) != 0);
    }
    if ok && me.pong_from.load(Ordering::Acquire) == (1u64 << n) - 1 {
        IPI_OK.fetch_or(1 << cpu, Ordering::AcqRel);
    }
}

/// Called from every AP's idle loop: runs its turn of the IPI test.
pub fn ap_poll(cpu: usize) {
    if TURN.load(Ordering::Acquire) == cpu {
        ping_all(cpu);
        TURN.store(cpu + 1, Ordering::Release);
    }
}

fn test_ipis(n: usize) {
    NR_ONLINE.store(n, Ordering::Release);
    TURN.store(0, Ordering::Release);
    ping_all(0);
    TURN.store(1, Ordering::Release);
    let done = wait_for(10 * SECOND, || TURN.load(Ordering::Acquire) >= n);
    let all = (1u64 << n) - 1;
    check(
        done && IPI_OK.load(Ordering::Acquire) == all,
        format_args!("CAL IPIs round-trip between all {} ordered CPU pairs", n * n),
    );
    for c in 0..n {
        let cal = percpu::area(c).count(CALL_FUNCTION_VECTOR);
        check(cal == 2 * n as u64, format_args!("CPU{c} CAL count {cal} == {}", 2 * n));
    }
    let sys = platform::system();
    // Kernel threads (ksoftirqd, irq threads) send RES IPIs of their own, so the count
    // is checked to grow rather than to be exactly one.
    let res_before: alloc::vec::Vec<u64> =
        (0..n).map(|c| percpu::area(c).count(RESCHEDULE_VECTOR)).collect();
    for c in 0..n {
        let _ = sys.platform().send_ipi(CpuId(c as u32), Ipi::Reschedule);
    }
    let res = wait_for(SECOND, || {
        (0..n).all(|c| percpu::area(c).count(RESCHEDULE_VECTOR) > res_before[c])
    });
    check(res, format_args!("a RES IPI landed on each CPU"));
    let bad = sys.platform().send_ipi(CpuId(n as u32 + 1), Ipi::Reschedule);
    check(
        matches!(bad, Err(irqkit_core::IrqError::NotFound(_))),
        format_args!("an IPI to a CPU that does not exist is refused ({bad:?})"),
    );
    // NMI IPIs to every CPU: their NMI gates and IST stacks, not just CPU 0's.
    let nmis: alloc::vec::Vec<u64> = (0..n).map(|c| percpu::area(c).count(2)).collect();
    for c in 0..n {
        lapic::send_nmi(percpu::area(c).apic_id.load(Ordering::Relaxed));
    }
    let nmi_ok = wait_for(SECOND, || (0..n).all(|c| percpu::area(c).count(2) == nmis[c] + 1));
    check(nmi_ok, format_args!("one NMI IPI handled by each CPU inside nmi_enter/nmi_exit"));
}

fn test_kthreads(n: usize) {
    let want = match selftest_sched::start(n) {
        Ok(m) => m,
        Err(e) => {
            check(false, format_args!("spawning kernel threads: {e}"));
            return;
        }
    };
    let done = wait_for(10 * SECOND, || selftest_sched::done() == want);
    check(
        done && !selftest_sched::saw_bad_context(),
        format_args!(
            "ticker/0..{} and ping/pong kernel threads ran on their CPUs and exited",
            n - 1
        ),
    );
    check(
        selftest_sched::idle_runs_a_thread_queued_while_masked(0),
        format_args!("the idle loop switched to a thread queued while it had interrupts masked"),
    );
    let preempted = percpu::area(0).irq_preemptions.load(Ordering::Relaxed);
    check(preempted >= 1, format_args!("CPU0 preempted {preempted} times at interrupt return"));
    let sys = platform::system();
    for c in 0..n {
        // `Scheduler::stats` takes the run-queue lock, which this CPU's tick also takes
        // (`scheduler_tick`): hold interrupts off as every run-queue user must.
        let flags = sys.local_irq_save();
        let stats = sys.rq_stats(CpuId(c as u32));
        sys.local_irq_restore(flags);
        if let Some(st) = stats {
            kprintln!(
                "CPU{c}: {} context switches, {} preemptions, {} irq-return preemptions",
                st.switches,
                st.preemptions,
                percpu::area(c).irq_preemptions.load(Ordering::Relaxed)
            );
        }
    }
}

/// Runs every check and exits QEMU with the verdict.
pub fn run(n: usize, serial_target: usize) -> ! {
    let sys = platform::system();
    kprintln!("selftest: {} CPUs", n);
    // The checks below count ticks of idle CPUs and poll IPI turns from the APs' idle
    // loops: every CPU keeps its tick, except during the tickless-idle test.
    for c in 0..n {
        tick_sched::tick_dep_set(c);
    }
    test_exceptions();
    selftest_heap::run();
    test_lazy_mask();
    let ticks = wait_for(5 * SECOND, || {
        (0..n).all(|c| percpu::area(c).ticks.load(Ordering::Relaxed) >= MIN_TICKS)
    });
    check(ticks, format_args!("LAPIC timer ticks (>= {MIN_TICKS}) on all {n} CPUs"));
    selftest_timer::run();
    test_ipis(n);
    selftest_devices::test_serial(n, serial_target);
    selftest_devices::test_keyboard();
    selftest_msi::run(n);
    selftest_bh::run(n);
    selftest_wq::run(n);
    let storm = selftest_storm::run(n);
    selftest_proc::run(n, storm);
    test_kthreads(n);
    selftest_nohz::run(n);
    let clean = (0..n).all(|c| !percpu::area(c).bad_context.load(Ordering::Relaxed));
    check(
        clean && sys.preempt_count() == 0 && sys.in_task(),
        format_args!("handlers ran in hard-irq/NMI context; task context restored"),
    );
    check(
        n == sys.nr_cpus(),
        format_args!("every CPU in the MADT came online ({n}/{})", sys.nr_cpus()),
    );
    shell::proc_interrupts();
    shell::proc_softirqs();
    shell::wq_dump();
    if FAILED.load(Ordering::Relaxed) {
        kprintln!("SELFTEST FAILED");
        crate::fail_exit()
    }
    kprintln!("SELFTEST PASSED");
    arch::qemu_exit(crate::EXIT_PASS)
}
