//! Concurrency stress on the fake platform with real OS threads as CPUs: shared level
//! and edge lines fired from three CPUs while a driver on the fourth requests, frees,
//! disables and enables. Checks invariants only (no timing): no handler runs after its
//! free returned, no interrupt is counted twice, and no line is left masked.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};

const FIRES_PER_CPU: u32 = 20_000;
const DRIVER_ROUNDS: u32 = 2_000;

#[test]
fn stress_fire_while_request_free_disable_enable() {
    let (sys, _p) = machine(4);
    let level = line(&sys, RecChip::basic(), FlowHandler::Level);
    let edge = line(&sys, RecChip::basic(), FlowHandler::Edge);
    // A permanent sharer on each line keeps them requested.
    let (base_l, hl) = counting(IrqReturn::HANDLED);
    let (base_e, he) = counting(IrqReturn::HANDLED);
    let _keep_l = sys.request_irq(level, hl, Flags::SHARED, "keep-l").unwrap();
    let _keep_e = sys.request_irq(edge, he, Flags::SHARED, "keep-e").unwrap();
    let violations = Arc::new(AtomicU32::new(0));
    let fired = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    let cpus: Vec<_> = (0..3u32)
        .map(|c| {
            let (sys, fired) = (sys.clone(), fired.clone());
            std::thread::spawn(move || {
                FakePlatform::enter_cpu(CpuId(c));
                for i in 0..FIRES_PER_CPU {
                    fire(&sys, if (i + c) % 2 == 0 { level } else { edge });
                    fired.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();

    let driver = {
        let (sys, violations, done) = (sys.clone(), violations.clone(), done.clone());
        std::thread::spawn(move || {
            FakePlatform::enter_cpu(CpuId(3));
            for round in 0..DRIVER_ROUNDS {
                let irq = if round % 2 == 0 { level } else { edge };
                let alive = Arc::new(AtomicBool::new(true));
                let (a2, v2) = (alive.clone(), violations.clone());
                let reg = sys
                    .request_irq(
                        irq,
                        move |_| {
                            if !a2.load(SeqCst) {
                                v2.fetch_add(1, SeqCst);
                            }
                            IrqReturn::NONE
                        },
                        Flags::SHARED,
                        "churn",
                    )
                    .unwrap();
                sys.disable_irq(irq, &Task::entered()).unwrap();
                sys.enable_irq(irq).unwrap();
                reg.free(&Task::entered()).unwrap();
                alive.store(false, SeqCst);
            }
            done.store(true, SeqCst);
        })
    };
    for c in cpus {
        c.join().unwrap();
    }
    driver.join().unwrap();
    assert!(done.load(SeqCst));
    assert_eq!(violations.load(SeqCst), 0, "a handler ran after its free returned");

    // Counted at most once per delivered interrupt.
    let counted: u64 = [level, edge]
        .iter()
        .flat_map(|i| (0..4).map(move |c| (*i, c)))
        .map(|(i, c)| sys.kstat_irqs_cpu(i, CpuId(c)) as u64)
        .sum();
    assert!(counted <= fired.load(SeqCst), "{counted} counted for {} fired", fired.load(SeqCst));
    assert!(base_l.load(SeqCst) as u64 + base_e.load(SeqCst) as u64 >= counted);

    // Nothing left masked or disabled: both lines still deliver.
    for irq in [level, edge] {
        assert_eq!(sys.irq_depth(irq).unwrap(), 0);
        let d = sys.irq_to_desc(irq).unwrap();
        fire(&sys, irq);
        assert!(!d.is_disabled() && !d.is_masked(), "irq {irq} left masked");
        assert!(!d.in_progress());
    }
}
