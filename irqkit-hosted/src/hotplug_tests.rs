//! `fixup_irqs` (arch/x86/kernel/irq.c): an interrupt latched on a CPU as it went
//! down is taken where its line points now, not when the CPU returns.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit_core::irq::{Flags, FlowHandler, IrqReturn};
use irqkit_core::{CpuId, CpuMask};

use crate::{Machine, MachineConfig};

#[test]
fn fixup_irqs_raises_a_vector_left_pending_on_the_dead_cpu_on_the_new_target() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 1000, ..Default::default() }).unwrap();
    let sys = m.sys().clone();
    let irq = m.create_irq_line(FlowHandler::Edge).unwrap();
    sys.irq_set_affinity(irq, &CpuMask::single(CpuId(1))).unwrap();
    let (hits, on) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU32::new(u32::MAX)));
    let (h, o, s) = (hits.clone(), on.clone(), sys.clone());
    let _reg = sys
        .request_irq(
            irq,
            move |_| {
                o.store(s.current_cpu().unwrap().0, SeqCst);
                h.fetch_add(1, SeqCst);
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "fixup",
        )
        .unwrap();
    m.cpu_down(CpuId(1)).unwrap();
    assert_eq!(m.irq_target(irq), Ok(CpuId(0)));
    // A raise that read the old target just before the line moved: its vector is
    // pending on the dead CPU, which takes nothing.
    let line = m.lines.lock().unwrap().get(&irq).cloned().unwrap();
    m.shared.cpus[1].set_pending(line.vector);
    assert_eq!(m.fixup_irqs(CpuId(1)), Ok(1));
    let deadline = Instant::now() + Duration::from_secs(30);
    while hits.load(SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the moved vector was never taken");
        std::thread::yield_now();
    }
    assert_eq!(on.load(SeqCst), 0);
    assert!(!m.shared.cpus[1].take_pending(line.vector), "taken once, from the dead CPU");
    assert_eq!(m.fixup_irqs(CpuId(1)), Ok(0));
    m.cpu_up(CpuId(1)).unwrap();
    assert_eq!(hits.load(SeqCst), 1);
}
