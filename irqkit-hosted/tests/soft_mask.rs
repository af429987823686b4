//! The soft interrupt mask: an interrupt that arrives while masked is handled exactly
//! once, right after the mask is lifted (include/linux/irqflags.h semantics, with the
//! replay that Linux's lazy masking on powerpc and the hosted design both need).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use irqkit_core::CpuId;
use irqkit_hosted::{Machine, MachineConfig};

/// xorshift: a cheap deterministic random source for the masking pattern.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn masked_interrupt_is_handled_exactly_once_after_unmask_under_100k_raises() {
    const RAISES: u64 = 100_000;
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 250, ..Default::default() }).unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let in_masked = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (h, im, v) = (handled.clone(), in_masked.clone(), violations.clone());
    m.set_vector_handler(0x50, move |_sys, _hard, _cpu| {
        // The interrupted code must not be inside a masked section.
        if im.load(Ordering::SeqCst) {
            v.fetch_add(1, Ordering::SeqCst);
        }
        h.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();

    // A kernel thread on CPU 1 masks and unmasks at random.
    let sys = m.sys().clone();
    let (im, st) = (in_masked.clone(), stop.clone());
    std::thread::scope(|scope| {
        let masker = scope.spawn(|| {
            m.run_on(CpuId(1), move |_t| {
                let mut x = 0x9e37_79b9_7f4a_7c15u64;
                while !st.load(Ordering::SeqCst) {
                    let f = sys.local_irq_save();
                    im.store(true, Ordering::SeqCst);
                    for _ in 0..(next(&mut x) % 200) {
                        std::hint::spin_loop();
                    }
                    im.store(false, Ordering::SeqCst);
                    sys.local_irq_restore(f);
                    for _ in 0..(next(&mut x) % 200) {
                        std::hint::spin_loop();
                    }
                }
            })
        });
        // Each raise is acknowledged before the next: none may be lost or doubled.
        for i in 0..RAISES {
            m.raise(CpuId(1), 0x50).unwrap();
            common::wait_until("raise handled", || handled.load(Ordering::SeqCst) == i + 1);
        }
        stop.store(true, Ordering::SeqCst);
        masker.join().unwrap().unwrap();
    });
    assert_eq!(handled.load(Ordering::SeqCst), RAISES);
    assert_eq!(violations.load(Ordering::SeqCst), 0, "a handler ran inside a masked section");
}

#[test]
fn burst_of_raises_against_a_masked_cpu_is_delivered_when_unmasked() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 0, ..Default::default() }).unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    m.set_vector_handler(0x51, move |_s, _h, _c| {
        h.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let masked = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let sys = m.sys().clone();
    let (mk, rl, h2) = (masked.clone(), release.clone(), handled.clone());
    let (before, after) = std::thread::scope(|scope| {
        let t = scope.spawn(|| {
            m.run_on(CpuId(1), move |_t| {
                let f = sys.local_irq_save();
                mk.store(true, Ordering::SeqCst);
                while !rl.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
                let before = h2.load(Ordering::SeqCst);
                sys.local_irq_restore(f);
                // Delivered synchronously by the restore, before we go on.
                (before, h2.load(Ordering::SeqCst))
            })
        });
        common::wait_until("masked", || masked.load(Ordering::SeqCst));
        for _ in 0..10_000 {
            m.raise(CpuId(1), 0x51).unwrap();
        }
        release.store(true, Ordering::SeqCst);
        t.join().unwrap().unwrap()
    });
    assert_eq!(before, 0, "nothing ran while masked");
    assert!(after >= 1, "the pending vector ran at unmask");
    // Raises coalesce in the pending bit (as in an IRR): at least one, never more
    // handlings than raises.
    assert!(handled.load(Ordering::SeqCst) <= 10_000);
}
