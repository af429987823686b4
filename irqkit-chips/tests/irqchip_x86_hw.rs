//! The x86 domains under ports that behave like real hardware: a CPU reads only its own
//! APIC's IRR, and the device gets its MSI message written (Linux
//! arch/x86/kernel/apic/vector.c `__vector_schedule_cleanup`, `__vector_cleanup`,
//! `assign_vector_locked`, `irq_matrix_assign_system`; kernel/irq/msi.c
//! `msi_domain_activate`, `msi_domain_set_affinity`; io_apic.c `ioapic_lock`).

mod common;

use std::sync::{Arc, Mutex};

use common::x86_ports::{HookedPorts, PortHooks};
use irqkit_chips::irqchip::x86::{ModelX86Ports, X86Irq};
use irqkit_chips::x86::ioapic::IoApic;
use irqkit_chips::x86::msi::MsiMessage;
use irqkit_chips::x86::{DeliveryMode, Destination, LapicSet};
use irqkit_core::irq::{Flags, IrqReturn};
use irqkit_core::testing::FakePlatform;
use irqkit_core::{CpuId, CpuMask, IrqError, IrqSystem};

const EDGE_RISING: u32 = 1;

/// Hardware-like hooks: a CPU reads only its own IRR; MSI writes are recorded.
#[derive(Default)]
struct HwHooks {
    msi_writes: Mutex<Vec<(u32, MsiMessage)>>,
}

impl PortHooks for HwHooks {
    const LOCAL_IRR_ONLY: bool = true;
    fn write_msi_msg(&self, _model: &ModelX86Ports, virq: u32, msg: &MsiMessage) {
        self.msi_writes.lock().unwrap().push((virq, *msg));
    }
}

/// The model ports, restricted as a CPU on hardware is.
type HwPorts = HookedPorts<HwHooks>;

struct Machine {
    sys: Arc<IrqSystem>,
    lapics: Arc<LapicSet>,
    io: Arc<IoApic>,
    x86: X86Irq<HwPorts>,
}

fn machine() -> Machine {
    let (sys, model) = common::x86_model_ports();
    let (lapics, io) = (model.lapics.clone(), model.ioapic.clone());
    let x86 = X86Irq::new(&sys, HwPorts { model, hooks: HwHooks::default() }).unwrap();
    Machine { sys, lapics, io, x86 }
}

/// Runs `f` as CPU `cpu` inside irq_enter/irq_exit.
fn on_cpu<R>(m: &Machine, cpu: u32, f: impl FnOnce(&irqkit_core::HardIrq) -> R) -> R {
    FakePlatform::enter_cpu(CpuId(cpu));
    let flags = m.sys.local_irq_save();
    let ctx = m.sys.irq_enter();
    let r = f(&ctx);
    m.sys.irq_exit(ctx);
    m.sys.local_irq_restore(flags);
    FakePlatform::enter_cpu(CpuId(0));
    r
}

fn edge_line(m: &Machine, pin: u32) -> (u32, irqkit_core::irq::Registration) {
    let virq = m.x86.map_pin(&m.sys, &[pin, EDGE_RISING]).unwrap();
    let reg = m.sys.request_irq(virq, |_| IrqReturn::HANDLED, Flags::empty(), "dev").unwrap();
    (virq, reg)
}

fn move_to(m: &Machine, virq: u32, cpu: u32) -> Result<(), IrqError> {
    m.sys.irq_set_affinity(virq, &CpuMask::single(CpuId(cpu)))
}

#[test]
fn old_vector_is_released_by_the_old_cpu_after_the_first_interrupt_on_the_new_one() {
    let m = machine();
    let (virq, _reg) = edge_line(&m, 5);
    let (old_cpu, old_vector) = m.x86.vector_of(&m.sys, virq).unwrap();
    let (to, third) = ((old_cpu + 2) % 4, (old_cpu + 1) % 4);
    move_to(&m, virq, to).unwrap();
    let (cpu, vector) = m.x86.vector_of(&m.sys, virq).unwrap();
    assert_eq!(cpu, to);
    m.io.set_line(5, true).unwrap();
    assert_eq!(on_cpu(&m, to, |ctx| m.x86.handle_irq(&m.sys, ctx)), Ok(Some(vector)));
    assert!(!on_cpu(&m, to, |_| m.x86.vector_cleanup()), "the new CPU has nothing to release");
    assert!(m.x86.cleanup_pending(old_cpu) && !m.x86.cleanup_pending(to));
    assert_eq!(m.x86.cleanup_pending_mask(), 1 << old_cpu, "the old CPU must keep its tick");
    assert!(matches!(move_to(&m, virq, third), Err(IrqError::Busy(_))), "old vector held");
    // Pending in the old CPU's IRR: the old CPU keeps it (retries at its next tick).
    let fixed = DeliveryMode::Fixed;
    m.lapics.deliver(None, Destination::Physical(old_cpu), fixed, old_vector, false).unwrap();
    assert!(on_cpu(&m, old_cpu, |_| m.x86.vector_cleanup()));
    assert!(matches!(move_to(&m, virq, third), Err(IrqError::Busy(_))));
    // The late interrupt still reaches the irq through the old vector, then it goes.
    let late = on_cpu(&m, old_cpu, |ctx| m.x86.handle_irq(&m.sys, ctx));
    assert_eq!(late, Ok(Some(old_vector)));
    assert!(on_cpu(&m, old_cpu, |_| m.x86.vector_cleanup()));
    assert!(!on_cpu(&m, old_cpu, |_| m.x86.vector_cleanup()), "nothing left to do");
    assert_eq!(m.x86.cleanup_pending_mask(), 0, "released: the old CPU may stop its tick");
    move_to(&m, virq, third).unwrap();
    assert_eq!(m.x86.vector_of(&m.sys, virq).unwrap().0, third);
    // The released vector no longer dispatches on the old CPU: a stray hit on the
    // shut-down slot is dropped silently once (call_irq_handler), then it is unused.
    let r = on_cpu(&m, old_cpu, |ctx| m.x86.handle_vector(&m.sys, ctx, old_vector));
    assert_eq!(r, Ok(None));
    let r = on_cpu(&m, old_cpu, |ctx| m.x86.handle_vector(&m.sys, ctx, old_vector));
    assert!(matches!(r, Err(IrqError::NotFound(_))), "{r:?}");
}

#[test]
fn moving_back_before_any_interrupt_takes_the_old_vector_back() {
    let m = machine();
    let (virq, _reg) = edge_line(&m, 6);
    move_to(&m, virq, 0).unwrap();
    let first = m.x86.vector_of(&m.sys, virq).unwrap();
    move_to(&m, virq, 2).unwrap();
    let abandoned = m.x86.vector_of(&m.sys, virq).unwrap();
    assert!(matches!(move_to(&m, virq, 3), Err(IrqError::Busy(_))), "EBUSY to a third CPU");
    move_to(&m, virq, 0).unwrap();
    assert_eq!(m.x86.vector_of(&m.sys, virq), Some(first));
    let rte = m.io.rte(6).unwrap();
    assert_eq!(((rte >> 56) as u32, rte as u8), first, "the entry names the old vector again");
    m.io.set_line(6, true).unwrap();
    assert_eq!(on_cpu(&m, 0, |ctx| m.x86.handle_vector(&m.sys, ctx, first.1)), Ok(Some(virq)));
    assert!(on_cpu(&m, abandoned.0, |_| m.x86.vector_cleanup()));
    move_to(&m, virq, 3).unwrap();
    let r = on_cpu(&m, abandoned.0, |ctx| m.x86.handle_vector(&m.sys, ctx, abandoned.1));
    assert_eq!(r, Ok(None), "the abandoned vector was released (slot shut down)");
}

#[test]
fn msi_message_is_written_at_activation_and_after_each_affinity_change() {
    let m = machine();
    let virq = m.x86.msi_alloc(&m.sys, 0x18, 1).unwrap();
    assert!(m.x86.shared_msi_writes().is_empty(), "nothing written before activation");
    let _reg = m.sys.request_irq(virq, |_| IrqReturn::HANDLED, Flags::empty(), "edu").unwrap();
    let msg = m.x86.msi_msg(&m.sys, virq).unwrap();
    let writes = m.x86.shared_msi_writes();
    assert!(!writes.is_empty() && writes.iter().all(|w| *w == (virq, msg)), "{writes:?}");
    let (cpu, _) = m.x86.vector_of(&m.sys, virq).unwrap();
    let to = (cpu + 1) % 4;
    move_to(&m, virq, to).unwrap();
    let moved = m.x86.msi_msg(&m.sys, virq).unwrap();
    assert_eq!(moved.decode(false).unwrap().dest, to);
    assert_eq!(m.x86.shared_msi_writes().last(), Some(&(virq, moved)));
}

#[test]
fn system_vectors_are_kept_out_of_the_allocator_and_bad_ones_refused() {
    let m = machine();
    for v in 0x20..0x30 {
        m.x86.reserve_system_vector(&m.sys, v).unwrap();
    }
    let (virq, _reg) = edge_line(&m, 7);
    let (_, vector) = m.x86.vector_of(&m.sys, virq).unwrap();
    assert_eq!(vector, 0x30, "the first free vector above the reserved ones");
    let rte = m.x86.ioapic_rte(&m.sys, 7).unwrap();
    assert_eq!(rte as u8, 0x30);
    assert_eq!(rte & (1 << 15 | 1 << 13 | 1 << 16), 0, "edge, active high, unmasked");
    assert!(matches!(m.x86.ioapic_rte(&m.sys, 24), Err(IrqError::InvalidArgument(_))));
    let inval = |r| matches!(r, Err(IrqError::InvalidArgument(_)));
    assert!(inval(m.x86.reserve_system_vector(&m.sys, 0x0E)), "an exception");
    assert!(inval(m.x86.reserve_system_vector(&m.sys, 0xEC)), "a system vector");
    assert!(matches!(m.x86.reserve_system_vector(&m.sys, 0x30), Err(IrqError::Busy(_))));
}

/// Reaches into the test ports.
trait MsiWrites {
    fn shared_msi_writes(&self) -> Vec<(u32, MsiMessage)>;
}

impl MsiWrites for X86Irq<HwPorts> {
    fn shared_msi_writes(&self) -> Vec<(u32, MsiMessage)> {
        self.ports().hooks.msi_writes.lock().unwrap().clone()
    }
}

#[test]
fn ioapic_lock_keeps_concurrent_read_modify_writes_of_two_pins_apart() {
    // io_apic.c: every IOREGSEL/IOWIN sequence runs under ioapic_lock. Two CPUs masking
    // and unmasking different pins at once would otherwise select each other's
    // register between the select and the data access and corrupt the other entry.
    let m = machine();
    let lines: Vec<_> = [8u32, 9].iter().map(|&pin| (pin, edge_line(&m, pin))).collect();
    for (_, (virq, _)) in &lines {
        move_to(&m, *virq, 0).unwrap(); // one CPU: two vectors, so the entries differ
    }
    let before: Vec<u64> = lines.iter().map(|(pin, _)| m.io.rte(*pin).unwrap()).collect();
    let untouched = m.io.rte(10).unwrap();
    std::thread::scope(|s| {
        for (i, (pin, (virq, _))) in lines.iter().enumerate() {
            let (_, d) = m.x86.map_chained_parent(&m.sys, &[*pin, EDGE_RISING]).unwrap();
            assert_eq!(d.irq, *virq);
            s.spawn(move || {
                FakePlatform::enter_cpu(CpuId(i as u32 + 1));
                for _ in 0..5000 {
                    d.chip.mask(&d);
                    d.chip.unmask(&d);
                }
            });
        }
    });
    assert_ne!(before[0] as u8, before[1] as u8);
    let after: Vec<u64> = lines.iter().map(|(pin, _)| m.io.rte(*pin).unwrap()).collect();
    assert_eq!(after, before, "each entry ends as it began: unmasked, own vector and destination");
    assert_eq!(m.io.rte(10).unwrap(), untouched);
}

// arch/x86/kernel/apic/vector.c irq_complete_move → __vector_schedule_cleanup →
// __vector_cleanup on the old CPU: with the lock-free move_in_progress test on the
// interrupt path, a move is still completed by the first interrupt on the new vector
// and its old vector released by the old CPU, move after move.
#[test]
fn irq_complete_move_still_completes_and_cleans_up_every_move() {
    let m = machine();
    let (virq, _reg) = edge_line(&m, 7);
    for round in 0..6u32 {
        let (old_cpu, _) = m.x86.vector_of(&m.sys, virq).unwrap();
        let to = (old_cpu + 1 + round % 3) % 4;
        move_to(&m, virq, to).unwrap();
        let (cpu, vector) = m.x86.vector_of(&m.sys, virq).unwrap();
        assert_eq!(cpu, to);
        // A third CPU: moving back to `old_cpu` would be the allowed undo.
        let third = (0..4).find(|c| *c != old_cpu && *c != to).unwrap();
        let blocked = move_to(&m, virq, third);
        assert!(matches!(blocked, Err(IrqError::Busy(_))), "round {round}: move in progress");
        m.io.set_line(7, true).unwrap();
        m.io.set_line(7, false).unwrap();
        assert_eq!(on_cpu(&m, to, |ctx| m.x86.handle_irq(&m.sys, ctx)), Ok(Some(vector)));
        assert!(on_cpu(&m, old_cpu, |_| m.x86.vector_cleanup()), "round {round}");
        assert!(!on_cpu(&m, old_cpu, |_| m.x86.vector_cleanup()), "round {round}: released");
    }
}
