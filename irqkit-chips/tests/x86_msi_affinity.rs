//! Moving a PCI MSI without per-vector masking (Linux arch/x86/kernel/apic/msi.c
//! `msi_set_affinity`; kernel/irq/migration.c `irq_move_masked_irq`; vector.c
//! `apic_ack_edge`, `apic_retrigger_irq`; irq.c `call_irq_handler`), on the LAPIC
//! models with a device that keeps the message it was last given and can fire at any
//! point, also between the two writes of a move.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use common::x86_ports::{HookedPorts, PortHooks};
use irqkit_chips::irqchip::x86::{
    msi_update_kind, ModelX86Ports, MsiMasking, MsiMoveStats, MsiUpdate, X86Irq, X86Ports,
};
use irqkit_chips::x86::msi::MsiMessage;
use irqkit_chips::x86::vector::MANAGED_IRQ_SHUTDOWN_VECTOR;
use irqkit_chips::x86::LapicSet;
use irqkit_core::irq::{Flags, IrqReturn, Registration};
use irqkit_core::{CpuId, CpuMask, HardIrq, IrqError, IrqSystem, Platform};
use proptest::prelude::*;

/// One raised device event: the CPU its message named when it was raised.
#[derive(Clone, Copy, Debug)]
struct Event {
    sent_to: u32,
}

/// A PCI function with one non-maskable MSI (QEMU's `edu`): it holds the message it
/// was given, queues events (its handler takes them all, as edu's status register),
/// and can be armed to fire right after its n-th next write.
#[derive(Default)]
struct Device {
    virq: AtomicU32,
    msgs: Mutex<HashMap<u32, MsiMessage>>,
    writes: Mutex<Vec<MsiMessage>>,
    fire_after: Mutex<Option<usize>>,
    events: Mutex<Vec<Event>>,
    raised: AtomicU32,
}

impl Device {
    /// Sends one MSI with the message the device holds — unless that vector is still
    /// requested at its CPU (the two would merge into one interrupt), so that every
    /// raise is one interrupt the test can count.
    fn raise(&self, lapics: &LapicSet) -> bool {
        let virq = self.virq.load(Ordering::SeqCst);
        let msg = self.msgs.lock().unwrap()[&virq];
        let t = msg.decode(false).unwrap();
        if lapics.vector_state(t.dest, t.vector).is_some_and(|s| s.0) {
            return false;
        }
        self.events.lock().unwrap().push(Event { sent_to: t.dest });
        self.raised.fetch_add(1, Ordering::SeqCst);
        lapics.deliver_msi(&msg).unwrap();
        true
    }
}

/// The device behind the model ports: it takes the messages written to it.
struct DeviceHooks(Arc<Device>);

impl PortHooks for DeviceHooks {
    fn write_msi_msg(&self, model: &ModelX86Ports, virq: u32, msg: &MsiMessage) {
        self.0.msgs.lock().unwrap().insert(virq, *msg);
        if virq != self.0.virq.load(Ordering::SeqCst) {
            return;
        }
        let n = {
            let mut w = self.0.writes.lock().unwrap();
            w.push(*msg);
            w.len()
        };
        let fire = {
            let mut f = self.0.fire_after.lock().unwrap();
            let hit = *f == Some(n);
            if hit {
                *f = None;
            }
            hit
        };
        if fire {
            self.0.raise(&model.lapics);
        }
    }
}

type Ports = HookedPorts<DeviceHooks>;

/// One handler run: its CPU, the events it consumed, the effective mask it saw, and
/// the effective mask when its interrupt entry began (before a deferred move).
type Run = (u32, Vec<Event>, CpuMask, CpuMask);

struct Machine {
    sys: Arc<IrqSystem>,
    lapics: Arc<LapicSet>,
    x86: X86Irq<Ports>,
    dev: Arc<Device>,
    virq: u32,
    runs: Arc<Mutex<Vec<Run>>>,
    entry_eff: Arc<Mutex<CpuMask>>,
    _reg: Option<Registration>,
}

impl Machine {
    /// `fillers[c]` maskable MSIs parked on CPU c first, so each CPU's lowest free
    /// vector differs and a move changes the vector; then the device's MSI on CPU 0.
    fn new(masking: MsiMasking, fillers: [u32; 4], request: bool) -> Machine {
        let (sys, model) = common::x86_model_ports();
        let lapics = model.lapics.clone();
        let platform: Arc<dyn Platform> = model.platform.clone();
        let dev = Arc::new(Device { virq: AtomicU32::new(u32::MAX), ..Device::default() });
        let x86 = X86Irq::new(&sys, Ports { model, hooks: DeviceHooks(dev.clone()) }).unwrap();
        for (cpu, &n) in fillers.iter().enumerate() {
            for _ in 0..n {
                let f = x86.msi_alloc(&sys, 0x100, 1).unwrap();
                sys.irq_set_affinity(f, &one(cpu as u32)).unwrap();
            }
        }
        let virq = x86.msi_alloc_masking(&sys, 0x18, 1, masking).unwrap();
        dev.virq.store(virq, Ordering::SeqCst);
        let (runs, entry_eff) = (Arc::default(), Arc::default());
        let mut m = Machine { sys, lapics, x86, dev, virq, runs, entry_eff, _reg: None };
        if request {
            m.request(platform);
            m.sys.irq_set_affinity(virq, &one(0)).unwrap();
            // The first interrupt applies a deferred move to CPU 0; the second, on CPU
            // 0, completes it (the old vector is released).
            m.kick();
            m.kick();
            assert_eq!(m.target().0, 0);
        }
        m
    }

    fn request(&mut self, platform: Arc<dyn Platform>) {
        let (dev, runs, sys, virq) =
            (self.dev.clone(), self.runs.clone(), self.sys.clone(), self.virq);
        let entry_eff = self.entry_eff.clone();
        let handler = move |_: &HardIrq| {
            let events = std::mem::take(&mut *dev.events.lock().unwrap());
            let cpu = platform.current_cpu().unwrap().0;
            let eff = sys.irq_get_effective_affinity(virq).unwrap();
            let none = events.is_empty();
            let at_entry = *entry_eff.lock().unwrap();
            runs.lock().unwrap().push((cpu, events, eff, at_entry));
            if none {
                IrqReturn::NONE
            } else {
                IrqReturn::HANDLED
            }
        };
        self._reg = Some(self.sys.request_irq(self.virq, handler, Flags::empty(), "edu").unwrap());
    }

    fn target(&self) -> (u32, u8) {
        self.x86.vector_of(&self.sys, self.virq).unwrap()
    }

    /// Runs CPU `cpu`'s interrupt entry until nothing is deliverable; returns the
    /// entry results.
    fn service(&self, cpu: u32) -> Vec<Result<Option<u8>, IrqError>> {
        let mut out = Vec::new();
        for _ in 0..16 {
            *self.entry_eff.lock().unwrap() =
                self.sys.irq_get_effective_affinity(self.virq).unwrap();
            let r = common::on_cpu_irq(&self.sys, cpu, |ctx| self.x86.handle_irq(&self.sys, ctx));
            if r == Ok(None) {
                break;
            }
            out.push(r);
        }
        out
    }

    /// Services every CPU until none has anything pending.
    fn quiesce(&self) {
        for _ in 0..8 {
            if !(0..4).any(|c| self.lapics.irq_asserted(c)) {
                return;
            }
            for c in 0..4 {
                self.service(c);
            }
        }
        panic!("interrupts still pending after 8 rounds");
    }

    /// One device interrupt, serviced on the CPU it went to.
    fn kick(&self) {
        let cpu = self.target().0;
        assert!(self.dev.raise(&self.lapics));
        self.service(cpu);
    }

    fn writes_since(&self, n: usize) -> Vec<MsiMessage> {
        self.dev.writes.lock().unwrap()[n..].to_vec()
    }

    fn nwrites(&self) -> usize {
        self.dev.writes.lock().unwrap().len()
    }

    fn handled(&self) -> usize {
        self.runs.lock().unwrap().iter().map(|r| r.1.len()).sum()
    }

    fn stats(&self) -> MsiMoveStats {
        self.x86.msi_move_stats()
    }
}

fn one(cpu: u32) -> CpuMask {
    CpuMask::single(CpuId(cpu))
}

fn msg(cpu: u32, vector: u8) -> MsiMessage {
    MsiMessage::compose(cpu, vector, false).unwrap()
}

#[test]
fn msi_set_affinity_of_a_nomask_msi_waits_for_its_next_interrupt_on_the_old_cpu() {
    // msi.c: x86 PCI MSI chips are IRQCHIP_MOVE_DEFERRED; migration.c
    // irq_move_masked_irq applies desc->pending_mask from apic_ack_irq.
    let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
    let (old_cpu, old_vector) = m.target();
    assert_eq!(old_cpu, 0);
    let before = m.nwrites();
    m.sys.irq_set_affinity(m.virq, &one(2)).unwrap();
    assert_eq!(m.target(), (0, old_vector), "nothing moves in process context");
    assert_eq!(m.sys.irq_get_effective_affinity(m.virq).unwrap(), one(0));
    assert_eq!(m.sys.irq_get_affinity(m.virq).unwrap(), one(2), "the pending mask reads back");
    assert_eq!(m.nwrites(), before, "the device is not touched");
    // The next interrupt still lands on CPU 0, which applies the move.
    m.kick();
    let runs = m.runs.lock().unwrap().clone();
    assert_eq!(runs.last().map(|r| (r.0, r.1.len())), Some((0, 1)));
    let (cpu, vector) = m.target();
    assert_eq!(cpu, 2);
    assert_ne!(vector, old_vector);
    assert_eq!(m.sys.irq_get_effective_affinity(m.virq).unwrap(), one(2));
    // And the one after lands on CPU 2.
    m.kick();
    assert_eq!(m.runs.lock().unwrap().last().map(|r| r.0), Some(2));
    assert_eq!(m.handled(), m.dev.raised.load(Ordering::SeqCst) as usize);
}

#[test]
fn msi_set_affinity_two_step_writes_the_new_vector_to_the_old_cpu_first() {
    // msi.c msi_set_affinity: "Redirect the interrupt to the new vector on the current
    // CPU first", then "transition it to the target CPU".
    let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
    let (old_cpu, old_vector) = m.target();
    m.sys.irq_set_affinity(m.virq, &one(3)).unwrap();
    let (before, s0) = (m.nwrites(), m.stats());
    m.kick();
    let (cpu, vector) = m.target();
    assert_eq!(cpu, 3);
    assert_ne!(vector, old_vector);
    assert_eq!(m.writes_since(before), vec![msg(old_cpu, vector), msg(3, vector)]);
    assert_eq!(m.x86.msi_msg(&m.sys, m.virq).unwrap(), msg(3, vector));
    let s = m.stats();
    let delta = (s.two_step - s0.two_step, s.retriggered, s.wrong_cpu, s.direct - s0.direct);
    assert_eq!(delta, (1, 0, 0, 0));
}

#[test]
fn msi_set_affinity_updates_directly_in_each_case_linux_lists() {
    // msi.c msi_set_affinity: direct update when the MSI is maskable, the vector is
    // unchanged, the old vector is MANAGED_IRQ_SHUTDOWN_VECTOR, the interrupt is not
    // started, or the destination APIC ID is unchanged.
    let (a, b) = ((0, 0x30), (2, 0x31));
    assert_eq!(msi_update_kind(false, true, a, b), MsiUpdate::TwoStep);
    assert_eq!(msi_update_kind(true, true, a, b), MsiUpdate::Direct, "maskable");
    assert_eq!(msi_update_kind(false, true, a, (2, 0x30)), MsiUpdate::Direct, "same vector");
    let shut = (0, MANAGED_IRQ_SHUTDOWN_VECTOR);
    assert_eq!(msi_update_kind(false, true, shut, b), MsiUpdate::Direct, "shutdown vector");
    assert_eq!(msi_update_kind(false, false, a, b), MsiUpdate::Direct, "not started");
    assert_eq!(msi_update_kind(false, true, a, (0, 0x31)), MsiUpdate::Direct, "same APIC");
}

#[test]
fn msi_set_affinity_of_a_maskable_msi_is_one_write_at_once() {
    // msi.c: "The MSI is maskable" needs no intermediate step.
    let m = Machine::new(MsiMasking::Maskable, [0, 1, 2, 3], true);
    let before = m.nwrites();
    m.sys.irq_set_affinity(m.virq, &one(3)).unwrap();
    let (cpu, vector) = m.target();
    assert_eq!(cpu, 3, "moved in process context");
    assert_eq!(m.writes_since(before), vec![msg(3, vector)]);
    assert_eq!(m.stats().two_step, 0);
    m.kick();
    assert_eq!(m.runs.lock().unwrap().last().map(|r| r.0), Some(3));
}

#[test]
fn msi_set_affinity_with_the_same_vector_is_one_write() {
    // msi.c: "The new vector is the same as the old vector". No fillers: CPU 0 and
    // CPU 1 have the same lowest free vector.
    let m = Machine::new(MsiMasking::NoMask, [0, 0, 0, 0], true);
    let (_, old_vector) = m.target();
    m.sys.irq_set_affinity(m.virq, &one(1)).unwrap();
    let before = m.nwrites();
    m.kick();
    assert_eq!(m.target(), (1, old_vector));
    assert_eq!(m.writes_since(before), vec![msg(1, old_vector)]);
    // A mask that still holds the current CPU: no new vector, the same message again.
    m.sys.irq_set_affinity(m.virq, &CpuMask::first_n(4)).unwrap();
    let before = m.nwrites();
    m.kick();
    assert_eq!(m.target(), (1, old_vector));
    assert_eq!(m.writes_since(before), vec![msg(1, old_vector)]);
    assert_eq!(m.stats().two_step, 0);
}

#[test]
fn msi_set_affinity_before_startup_is_one_write() {
    // msi.c: "The interrupt is not yet started up". A managed mask is applied at
    // startup (irq_startup → irq_do_set_affinity) before IRQD_IRQ_STARTED is set, on
    // the very CPU the vector leaves, which would otherwise take the two-step path.
    let mut m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], false);
    let (old_cpu, old_vector) = m.target();
    let to = (old_cpu + 3) % 4;
    m.sys.irq_set_managed_affinity(m.virq, &one(to)).unwrap();
    irqkit_core::testing::FakePlatform::enter_cpu(CpuId(old_cpu));
    let platform = m.sys.platform_arc();
    m.request(platform);
    irqkit_core::testing::FakePlatform::enter_cpu(CpuId(0));
    let (cpu, vector) = m.target();
    assert_eq!(cpu, to);
    assert_ne!(vector, old_vector);
    let writes = m.writes_since(0);
    assert!(!writes.contains(&msg(old_cpu, vector)), "no intermediate message: {writes:?}");
    assert_eq!(writes.last(), Some(&msg(to, vector)));
    assert_eq!(m.stats().two_step, 0);
}

#[test]
fn msi_set_affinity_marks_the_new_vector_retriggered_on_the_old_cpu() {
    // msi.c: "Mark the new target vector on the local CPU if it is currently unused"
    // (VECTOR_RETRIGGERED), so irq.c call_irq_handler drops a stray hit silently
    // instead of printing "No irq handler for vector".
    let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
    let old_cpu = m.target().0;
    m.sys.irq_set_affinity(m.virq, &one(3)).unwrap();
    m.kick();
    let (_, vector) = m.target();
    let runs = m.runs.lock().unwrap().len();
    let stray = |m: &Machine| {
        let fixed = irqkit_chips::x86::DeliveryMode::Fixed;
        let dest = irqkit_chips::x86::Destination::Physical(old_cpu);
        m.lapics.deliver(None, dest, fixed, vector, false).unwrap();
        common::on_cpu_irq(&m.sys, old_cpu, |ctx| {
            let v = m.x86.ports().acknowledge().unwrap();
            m.x86.handle_vector(&m.sys, ctx, v)
        })
    };
    assert_eq!(stray(&m), Ok(None), "dropped silently, EOIed");
    assert_eq!(m.runs.lock().unwrap().len(), runs, "no handler ran");
    // The slot went back to unused: a second stray is a real "No irq handler".
    assert!(matches!(stray(&m), Err(IrqError::NotFound(_))));
    assert!(!m.lapics.irq_asserted(old_cpu), "both EOIed");
}

#[test]
fn msi_set_affinity_retriggers_a_device_interrupt_that_raced_the_two_writes() {
    // msi.c: "Check whether the transition raced with a device interrupt and is
    // pending in the local APICs IRR" → irq_retrigger (vector.c apic_retrigger_irq).
    let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
    let old_cpu = m.target().0;
    m.sys.irq_set_affinity(m.virq, &one(2)).unwrap();
    let (n, s0) = (m.nwrites(), m.stats());
    let (raised, runs0) = (m.dev.raised.load(Ordering::SeqCst), m.runs.lock().unwrap().len());
    *m.dev.fire_after.lock().unwrap() = Some(n + 1); // right after the intermediate write
    m.kick();
    assert_eq!(m.dev.raised.load(Ordering::SeqCst), raised + 2, "this kick and the raced one");
    let s = m.stats();
    assert_eq!((s.two_step - s0.two_step, s.retriggered), (1, 1));
    let (cpu, vector) = m.target();
    assert_eq!(cpu, 2);
    assert_eq!(m.lapics.vector_state(2, vector).map(|s| s.0), Some(true), "re-sent to CPU 2");
    m.quiesce();
    assert!(m.dev.events.lock().unwrap().is_empty(), "nothing lost");
    let raised = m.dev.raised.load(Ordering::SeqCst) as usize;
    assert_eq!(m.handled(), raised, "each event handled exactly once");
    let runs = m.runs.lock().unwrap()[runs0..].to_vec();
    assert!(runs.iter().all(|r| r.0 == old_cpu || r.0 == 2), "{runs:?}");
}

#[test]
fn msi_set_affinity_device_interrupt_after_the_final_write_needs_no_retrigger() {
    // msi.c: "All interrupts after this point are now targeted at the new vector/CPU."
    let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
    m.sys.irq_set_affinity(m.virq, &one(3)).unwrap();
    let n = m.nwrites();
    *m.dev.fire_after.lock().unwrap() = Some(n + 2);
    m.kick();
    assert_eq!(m.stats().retriggered, 0);
    m.quiesce();
    assert_eq!(m.handled(), m.dev.raised.load(Ordering::SeqCst) as usize);
    assert_eq!(m.runs.lock().unwrap().last().map(|r| r.0), Some(3));
}

#[test]
fn msi_set_affinity_off_the_old_cpu_warns_and_updates_directly() {
    // msi.c: "Paranoia: Validate that the interrupt target is the local CPU"
    // (WARN_ON_ONCE, then irq_msi_update_msg).
    let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
    m.sys.irq_set_affinity(m.virq, &one(3)).unwrap();
    let before = m.nwrites();
    irqkit_core::testing::FakePlatform::enter_cpu(CpuId(1));
    let r = m.sys.irq_move_pending(m.virq);
    irqkit_core::testing::FakePlatform::enter_cpu(CpuId(0));
    r.unwrap();
    let (cpu, vector) = m.target();
    assert_eq!(cpu, 3);
    assert_eq!(m.writes_since(before), vec![msg(3, vector)]);
    assert_eq!(m.stats().wrong_cpu, 1);
    m.kick();
    assert_eq!(m.runs.lock().unwrap().last().map(|r| r.0), Some(3));
}

#[test]
fn msi_set_affinity_to_an_empty_or_offline_mask_is_refused_and_changes_nothing() {
    // manage.c irq_set_affinity / proc.c write_irq_affinity: at least one online CPU
    // must be targeted (-EINVAL); Linux would queue it and drop it at the next
    // interrupt (migration.c), irqkit reports it.
    let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
    let target = m.target();
    let writes = m.nwrites();
    let inval = |r: Result<(), IrqError>| matches!(r, Err(IrqError::InvalidArgument(_)));
    assert!(inval(m.sys.irq_set_affinity(m.virq, &CpuMask::new())));
    m.sys.cpu(CpuId(3)).unwrap().set_online(false);
    assert!(inval(m.sys.irq_set_affinity(m.virq, &one(3))), "offline CPU");
    m.sys.cpu(CpuId(3)).unwrap().set_online(true);
    assert!(inval(m.sys.irq_set_affinity(m.virq, &one(9))), "no such CPU");
    assert!(m.sys.irq_set_affinity(77, &one(1)).is_err(), "no such irq");
    assert_eq!(m.sys.irq_get_affinity(m.virq).unwrap(), one(0), "no move pending");
    m.kick();
    assert_eq!(m.target(), target);
    assert_eq!(m.nwrites(), writes, "the device was not touched");
    assert_eq!(m.runs.lock().unwrap().last().map(|r| r.0), Some(0));
    // Bad allocation requests.
    assert!(matches!(
        m.x86.msi_alloc_masking(&m.sys, 0x20, 0, MsiMasking::NoMask),
        Err(IrqError::InvalidArgument(_))
    ));
    let r = m.sys.irq_domain_alloc_irqs(m.x86.msi_domain(), 1, &[0x20, 7]);
    assert!(matches!(r, Err(IrqError::InvalidArgument(_))), "{r:?}");
}

#[test]
fn msi_move_pending_stays_pending_while_the_previous_move_is_not_cleaned_up() {
    // migration.c irq_move_masked_irq: "If the there is a cleanup pending in the
    // underlying vector management, reschedule the move for the next interrupt."
    let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
    let (a, old_vector) = m.target();
    m.sys.irq_set_affinity(m.virq, &one(1)).unwrap();
    m.kick(); // now on CPU 1; CPU 0's old vector awaits cleanup
              // A late interrupt on the old vector is still pending at CPU 0: cleanup must wait.
    let fixed = irqkit_chips::x86::DeliveryMode::Fixed;
    let dest = irqkit_chips::x86::Destination::Physical(a);
    m.lapics.deliver(None, dest, fixed, old_vector, false).unwrap();
    m.sys.irq_set_affinity(m.virq, &one(2)).unwrap();
    m.kick(); // on CPU 1: cleanup busy → the move to CPU 2 stays pending
    assert_eq!(m.target().0, 1);
    assert_eq!(m.sys.irq_get_affinity(m.virq).unwrap(), one(2));
    // The late interrupt goes through the old vector on CPU 0, whose ack releases it
    // and then applies the pending move (off the current target CPU 1: directly).
    m.service(a);
    assert_eq!(m.target().0, 2);
    m.kick();
    assert_eq!(m.runs.lock().unwrap().last().map(|r| r.0), Some(2));
}

#[derive(Clone, Debug)]
enum Op {
    Move(u8),
    Raise,
    RaiseDuringWrite(usize),
    Service(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..16).prop_map(Op::Move),
        Just(Op::Raise),
        (1usize..3).prop_map(Op::RaiseDuringWrite),
        (0u32..4).prop_map(Op::Service),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// msi.c msi_set_affinity with migration.c's deferred moves: over any sequence of
    /// affinity changes and device interrupts (also ones racing a two-step update),
    /// every event is handled exactly once, and each handler run is on a CPU of the
    /// effective mask then (at its interrupt's entry, which may apply a pending move,
    /// or after), or on the CPU an event it handled was sent to.
    #[test]
    fn msi_moves_lose_and_misroute_nothing(ops in proptest::collection::vec(op(), 1..40)) {
        let m = Machine::new(MsiMasking::NoMask, [0, 1, 2, 3], true);
        for op in ops {
            match op {
                Op::Move(bits) => {
                    let mut mask = CpuMask::new();
                    (0..4).filter(|c| bits & 1 << c != 0).for_each(|c| mask.set(CpuId(c)));
                    m.sys.irq_set_affinity(m.virq, &mask).unwrap();
                }
                Op::Raise => {
                    let eff = m.sys.irq_get_effective_affinity(m.virq).unwrap();
                    let sent = m.x86.msi_msg(&m.sys, m.virq).unwrap().decode(false).unwrap().dest;
                    prop_assert!(eff.contains(CpuId(sent)), "message to {sent}, effective {eff:?}");
                    m.dev.raise(&m.lapics);
                }
                Op::RaiseDuringWrite(k) => {
                    let n = m.nwrites();
                    *m.dev.fire_after.lock().unwrap() = Some(n + k);
                }
                Op::Service(cpu) => {
                    for r in m.service(cpu) {
                        prop_assert!(r.is_ok(), "no vector without a handler: {r:?}");
                    }
                }
            }
        }
        *m.dev.fire_after.lock().unwrap() = None;
        m.quiesce();
        let raised = m.dev.raised.load(Ordering::SeqCst) as usize;
        prop_assert!(m.dev.events.lock().unwrap().is_empty(), "an event was lost");
        prop_assert_eq!(m.handled(), raised, "events handled");
        // One handler run per interrupt: a raced one is re-sent, its stray dropped.
        prop_assert_eq!(m.runs.lock().unwrap().len(), raised, "interrupts handled");
        for (cpu, events, eff, at_entry) in m.runs.lock().unwrap().iter() {
            let c = CpuId(*cpu);
            let ok = eff.contains(c)
                || at_entry.contains(c)
                || events.iter().any(|e| e.sent_to == *cpu);
            prop_assert!(ok, "run on CPU{cpu} (effective {eff:?}, {at_entry:?}) for {events:?}");
        }
    }
}

// kernel/irq/resend.c check_irq_resend → irq_chip_retrigger_hierarchy →
// arch/x86/kernel/apic/vector.c apic_retrigger_irq: an edge MSI that arrived while its
// line was disabled is replayed at enable_irq as an IPI with its vector to its CPU (a
// hardware retrigger, found up the hierarchy), and handled exactly once.
#[test]
fn enable_irq_retriggers_a_pending_edge_msi_through_the_vector_level() {
    let m = Machine::new(MsiMasking::Maskable, [0; 4], true);
    let (cpu, vector) = m.target();
    let before = m.handled();
    m.sys.disable_irq_nosync(m.virq).unwrap();
    assert!(m.dev.raise(&m.lapics));
    m.service(cpu);
    assert_eq!(m.handled(), before, "a disabled line runs no handler");
    assert!(!m.lapics.vector_state(cpu, vector).unwrap().0, "taken: not requested any more");
    m.sys.enable_irq(m.virq).unwrap();
    assert!(m.lapics.vector_state(cpu, vector).unwrap().0, "re-sent in hardware, to its CPU");
    m.service(cpu);
    assert_eq!(m.handled(), before + 1);
    m.quiesce();
    assert_eq!(m.handled(), before + 1, "replayed once");
}
