//! Unit tests of the glue's locking: the interrupt path takes the vector lock only
//! while the interrupted irq is moving (vector.c `irq_complete_move`).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use irqkit_core::irq::{Flags, IrqReturn, Registration};
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, CpuMask, IrqSystem};

use super::{ModelX86Ports, X86Irq};
use crate::x86::apic_driver::LapicDriver;
use crate::x86::ioapic::IoApic;
use crate::x86::LapicSet;

const EDGE_RISING: u32 = 1;

struct Machine {
    sys: Arc<IrqSystem>,
    io: Arc<IoApic>,
    x86: X86Irq<ModelX86Ports>,
}

fn machine() -> Machine {
    let (sys, platform) = FakePlatform::system(4);
    let lapics = Arc::new(LapicSet::new(4).unwrap());
    for cpu in 0..4 {
        LapicDriver::setup(&lapics.mmio_view(cpu));
    }
    let io = IoApic::new(0, 24, lapics.clone()).unwrap();
    let x86 = X86Irq::new(&sys, ModelX86Ports { lapics, ioapic: io.clone(), platform }).unwrap();
    Machine { sys, io, x86 }
}

fn edge_line(m: &Machine, pin: u32) -> (u32, Arc<AtomicU32>, Registration) {
    let virq = m.x86.map_pin(&m.sys, &[pin, EDGE_RISING]).unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let handler = move |_: &irqkit_core::HardIrq| {
        h.fetch_add(1, Ordering::SeqCst);
        IrqReturn::HANDLED
    };
    (virq, hits, m.sys.request_irq(virq, handler, Flags::empty(), "dev").unwrap())
}

/// Raises `pin` as an edge and lets `cpu` take it; returns the vector lock
/// acquisitions the interrupt made.
fn fire(m: &Machine, pin: u32, cpu: u32) -> u32 {
    m.io.set_line(pin, true).unwrap();
    m.io.set_line(pin, false).unwrap();
    let before = m.x86.shared.apic_locks.load(Ordering::Relaxed);
    FakePlatform::enter_cpu(CpuId(cpu));
    let flags = m.sys.local_irq_save();
    let ctx = m.sys.irq_enter();
    let r = m.x86.handle_irq(&m.sys, &ctx);
    m.sys.irq_exit(ctx);
    m.sys.local_irq_restore(flags);
    FakePlatform::enter_cpu(CpuId(0));
    assert!(matches!(r, Ok(Some(_))), "{r:?}");
    m.x86.shared.apic_locks.load(Ordering::Relaxed) - before
}

// arch/x86/kernel/apic/vector.c irq_complete_move: `if (likely(!apicd->move_in_progress))
// return;` before any lock — the common case of every device interrupt.
#[test]
fn irq_complete_move_takes_no_vector_lock_when_nothing_moves() {
    let m = machine();
    let (virq, hits, _reg) = edge_line(&m, 11);
    let (cpu, _) = m.x86.vector_of(&m.sys, virq).unwrap();
    let locks: Vec<u32> = (0..3).map(|_| fire(&m, 11, cpu)).collect();
    assert_eq!(locks, [0, 0, 0]);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

// vector.c irq_complete_move → __vector_schedule_cleanup: the first interrupt on the
// new vector does take the lock and completes the move; the ones after it do not.
#[test]
fn irq_complete_move_locks_only_while_the_irq_is_moving() {
    let m = machine();
    let (virq, hits, _reg) = edge_line(&m, 11);
    let (other, _o, _oreg) = edge_line(&m, 12);
    let (old_cpu, _) = m.x86.vector_of(&m.sys, virq).unwrap();
    let to = (old_cpu + 1) % 4;
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(to))).unwrap();
    assert!(m.x86.shared.moves.may_be_moving(virq));
    // Another irq's interrupt is not slowed down by this irq's move.
    let (ocpu, _) = m.x86.vector_of(&m.sys, other).unwrap();
    assert_eq!(fire(&m, 12, ocpu), 0);
    assert!(fire(&m, 11, to) > 0, "the first interrupt on the new vector completes the move");
    assert!(!m.x86.shared.moves.may_be_moving(virq), "model ports clean up at once");
    assert_eq!(fire(&m, 11, to), 0);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // The move really completed: moving on is allowed again.
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(old_cpu))).unwrap();
    assert_eq!(m.x86.vector_of(&m.sys, virq).unwrap().0, old_cpu);
}

// A failed or no-op affinity change must not leave the flag up (speculative raise undone).
#[test]
fn affinity_change_that_does_not_move_leaves_the_fast_path_on() {
    let m = machine();
    let (virq, _hits, _reg) = edge_line(&m, 11);
    let (cpu, _) = m.x86.vector_of(&m.sys, virq).unwrap();
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(cpu))).unwrap();
    assert!(!m.x86.shared.moves.may_be_moving(virq));
    assert_eq!(fire(&m, 11, cpu), 0);
}
