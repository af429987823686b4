//! The generic IRQ layer on the hosted machine under stress: 4 CPUs, shared level and
//! edge lines raised at random while drivers request, free, disable and enable
//! concurrently (kernel/irq/manage.c: free_irq waits for running handlers;
//! kernel/irq/chip.c: flows never leave a line masked by mistake).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit_core::irq::{Flags as IrqFlags, FlowHandler, IrqReturn, ProcIrqFile};
use irqkit_core::sched::KthreadSpec;
use irqkit_core::{CpuId, CpuMask};
use irqkit_hosted::{Machine, MachineConfig};

#[test]
fn shared_lines_under_concurrent_request_free_disable_enable() {
    let m = Arc::new(
        Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap(),
    );
    let level = m.create_irq_line(FlowHandler::Level).unwrap();
    let edge = m.create_irq_line(FlowHandler::Edge).unwrap();
    let sys = m.sys().clone();
    // Spread the two lines over CPUs 1 and 2.
    sys.irq_set_affinity(level, &CpuMask::single(CpuId(1))).unwrap();
    sys.irq_set_affinity(edge, &CpuMask::single(CpuId(2))).unwrap();
    let base = Arc::new(AtomicU64::new(0));
    let (b1, b2) = (base.clone(), base.clone());
    let keep_l = sys
        .request_irq(
            level,
            move |_| {
                b1.fetch_add(1, SeqCst);
                IrqReturn::HANDLED
            },
            IrqFlags::SHARED,
            "keep-l",
        )
        .unwrap();
    let keep_e = sys
        .request_irq(
            edge,
            move |_| {
                b2.fetch_add(1, SeqCst);
                IrqReturn::HANDLED
            },
            IrqFlags::SHARED,
            "keep-e",
        )
        .unwrap();
    let violations = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let drivers_done = Arc::new(AtomicU64::new(0));

    // Two drivers (kernel threads on CPUs 0 and 3) churn sharers on both lines.
    for (n, cpu) in [(0u32, 0u32), (1, 3)] {
        let (sys, v, st, dd) =
            (sys.clone(), violations.clone(), stop.clone(), drivers_done.clone());
        m.spawn(KthreadSpec::bound(format!("driver/{n}"), CpuId(cpu)), move |task| {
            let mut round = 0u32;
            while !st.load(SeqCst) {
                let irq = if (round + n).is_multiple_of(2) { level } else { edge };
                let alive = Arc::new(AtomicBool::new(true));
                let (a2, v2) = (alive.clone(), v.clone());
                let reg = sys
                    .request_irq(
                        irq,
                        move |_| {
                            if !a2.load(SeqCst) {
                                v2.fetch_add(1, SeqCst);
                            }
                            IrqReturn::NONE
                        },
                        IrqFlags::SHARED,
                        "churn",
                    )
                    .unwrap();
                sys.disable_irq(irq, task).unwrap();
                sys.enable_irq(irq).unwrap();
                reg.free(task).unwrap();
                // After free returned no call of that handler may start or still run.
                alive.store(false, SeqCst);
                round += 1;
            }
            dd.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    // A device thread raises both lines at random for a while.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut raised = 0u64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    while Instant::now() < deadline {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        m.raise_irq(if x & 1 == 0 { level } else { edge }).unwrap();
        raised += 1;
        if x.is_multiple_of(16) {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    stop.store(true, SeqCst);
    common::wait_until("drivers stop", || drivers_done.load(SeqCst) == 2);
    assert_eq!(violations.load(SeqCst), 0, "a handler ran after its free returned");

    // Counted at most once per raise; the permanent sharers saw every counted one.
    let counted: u64 = [level, edge]
        .iter()
        .flat_map(|i| (0..4).map(move |c| (*i, c)))
        .map(|(i, c)| sys.kstat_irqs_cpu(i, CpuId(c)) as u64)
        .sum();
    assert!(counted > 0 && counted <= raised, "{counted} counted for {raised} raised");
    // Nothing left masked or disabled: both lines still deliver.
    for irq in [level, edge] {
        assert_eq!(sys.irq_depth(irq).unwrap(), 0);
        let d = sys.irq_to_desc(irq).unwrap();
        assert!(!d.is_disabled() && !d.is_masked(), "irq {irq} left masked");
        let before = base.load(SeqCst);
        m.raise_irq(irq).unwrap();
        common::wait_until("line still delivers", || base.load(SeqCst) > before);
    }
    drop((keep_l, keep_e));
}

#[test]
fn affinity_write_moves_the_next_interrupt_to_the_new_cpu() {
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap();
    let irq = m.create_irq_line(FlowHandler::Edge).unwrap();
    let sys = m.sys().clone();
    let last_cpu = Arc::new(AtomicU64::new(u64::MAX));
    let l = last_cpu.clone();
    let s2 = sys.clone();
    let _reg = sys
        .request_irq(
            irq,
            move |_| {
                l.store(s2.current_cpu().unwrap().0 as u64, SeqCst);
                IrqReturn::HANDLED
            },
            IrqFlags::empty(),
            "mover",
        )
        .unwrap();
    for target in [2u32, 3, 1] {
        sys.proc_irq_write(irq, ProcIrqFile::SmpAffinity, &format!("{:x}", 1u32 << target))
            .unwrap();
        assert_eq!(m.irq_target(irq).unwrap(), CpuId(target));
        last_cpu.store(u64::MAX, SeqCst);
        m.raise_irq(irq).unwrap();
        common::wait_until("moved interrupt", || last_cpu.load(SeqCst) != u64::MAX);
        assert_eq!(last_cpu.load(SeqCst), target as u64);
    }
    assert!(sys.show_interrupts().contains("HOST-APIC"));
}
