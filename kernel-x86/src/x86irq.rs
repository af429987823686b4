//! irqkit-chips' x86 domains (vector matrix → IO-APIC / PCI-MSI) on the real APICs.
//!
//! [`HwPorts`] is the chips' `X86Ports` for this machine: each CPU's own xAPIC page,
//! the IO-APIC window (its index/data pair is serialised by the glue's `ioapic_lock`),
//! APIC IDs from the MADT, and no remote IRR reads — a CPU sees only its own APIC, so a
//! moved irq's old vector is released by its old CPU at its next tick
//! ([`vector_cleanup`]). Device vectors come from the IDT entry, so dispatch calls
//! `handle_vector` directly instead of acknowledging through the ports.
//!
//! Legacy vectors the kernel drives itself (the storm line of the self-test) are kept
//! out of the matrix and dispatched through the per-CPU `vector_irq` table first.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, Ordering};

use irqkit_chips::irqchip::x86::{MsiMasking, MsiMoveStats, X86Irq, X86Ports};
use irqkit_chips::mmio_hw::VolatileMmio;
use irqkit_chips::x86::apic_driver::LapicDriver;
use irqkit_chips::x86::lapic_regs::APIC_IRR;
use irqkit_chips::x86::msi::MsiMessage;
use irqkit_chips::x86::vector::NR_IRQS_LEGACY;
use irqkit_core::irq::Trigger;
use irqkit_core::{HardIrq, IrqError, IrqSystem};

use crate::{lapic, mmio, pci_msi, percpu};

/// `vector_irq` value of a vector no kernel-owned descriptor uses (`VECTOR_UNUSED`).
pub const VECTOR_UNUSED: u32 = u32::MAX;

/// The chips' ports on this machine.
pub struct HwPorts {
    nr_cpus: u32,
}

impl X86Ports for HwPorts {
    type Apic<'a> = VolatileMmio;
    type Io<'a> = VolatileMmio;
    fn this_cpu(&self) -> u32 {
        percpu::this_cpu() as u32
    }
    fn num_cpus(&self) -> u32 {
        self.nr_cpus
    }
    fn apic(&self) -> VolatileMmio {
        mmio::lapic()
    }
    fn ioapic(&self) -> VolatileMmio {
        mmio::ioapic()
    }
    fn acknowledge(&self) -> Option<u8> {
        // The CPU acknowledged when it entered the IDT: see `handle_device_vector`.
        None
    }
    fn vector_in_irr(&self, cpu: u32, vector: u8) -> bool {
        // Another CPU's IRR is out of reach: call it pending (never released early).
        cpu != self.this_cpu() || LapicDriver::test_vector(&mmio::lapic(), APIC_IRR, vector)
    }
    fn remote_irr(&self) -> bool {
        false
    }
    fn apic_id(&self, cpu: u32) -> u32 {
        percpu::area(cpu as usize).apic_id.load(Ordering::Relaxed)
    }
    fn write_msi_msg(&self, virq: u32, msg: &MsiMessage) {
        pci_msi::write_msg(virq, msg);
    }
    fn send_vector_ipi(&self, cpu: u32, vector: u8) -> Result<(), IrqError> {
        // The kernel's send keeps the ICR2/ICR pair atomic against this CPU's handlers.
        lapic::send_ipi(self.apic_id(cpu), vector);
        Ok(())
    }
}

static X86: AtomicPtr<X86Irq<HwPorts>> = AtomicPtr::new(core::ptr::null_mut());

/// The domains, once [`init`] ran.
pub fn get() -> Option<&'static X86Irq<HwPorts>> {
    let p = X86.load(Ordering::Acquire);
    // SAFETY: a non-null pointer came from a leaked Box that is never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Probes the IO-APIC (every pin masked) and creates the VECTOR, IO-APIC and PCI-MSI
/// domains for all `nr_cpus` CPUs (call once they are online). `reserved` vectors stay
/// the kernel's.
pub fn init(sys: &IrqSystem, nr_cpus: usize, reserved: &[u8]) -> Result<u32, IrqError> {
    let x86 = X86Irq::new(sys, HwPorts { nr_cpus: nr_cpus as u32 })?;
    for &v in reserved {
        x86.reserve_system_vector(sys, v)?;
    }
    let pins = x86.ioapic_domain().revmap_kind();
    X86.store(Box::into_raw(Box::new(x86)), Ordering::Release);
    Ok(match pins {
        irqkit_core::irq::RevMap::Linear(n) => n,
        _ => 0,
    })
}

/// Runs `f` with every free descriptor in `1..below` held, so an allocation inside
/// takes the lowest free irq at or above `below` (Linux preallocates the 16 legacy
/// descriptors; here the free ones are held for the moment of the allocation instead).
fn with_legacy_held<R>(sys: &IrqSystem, below: u32, f: impl FnOnce() -> R) -> R {
    let held: Vec<u32> = (1..below).filter(|&i| sys.irq_alloc_descs(i, 1, true).is_ok()).collect();
    let r = f();
    for i in held {
        let _ = sys.irq_free_descs(i, 1);
    }
    r
}

/// Maps ISA `pin` of the IO-APIC as Linux irq `pin`, edge-triggered active-high (ISA
/// lines are, in the MP table's default and ACPI's), so it gets the edge flow.
pub fn map_isa_pin(sys: &IrqSystem, pin: u32) -> Result<u32, IrqError> {
    let x86 = get().ok_or(IrqError::NotFound("x86 domains not set up"))?;
    let virq =
        with_legacy_held(sys, pin, || x86.map_pin(sys, &[pin, Trigger::EDGE_RISING.bits()]))?;
    if virq != pin {
        return Err(IrqError::Busy("ISA irq number already taken"));
    }
    Ok(virq)
}

/// `pci_alloc_irq_vectors(dev, 1, 1, PCI_IRQ_MSIX)` in the PCI-MSI domain for requester
/// `rid`, above the legacy irq numbers as in Linux: one maskable vector.
pub fn msi_alloc(sys: &IrqSystem, rid: u32) -> Result<u32, IrqError> {
    msi_alloc_masking(sys, rid, MsiMasking::Maskable)
}

/// One MSI of a function whose MSI capability has no per-vector masking (this kernel
/// does not drive PCI_MSI_FLAGS_MASKBIT): its affinity changes take Linux's two-step
/// path from the old CPU's next interrupt.
pub fn msi_alloc_nomask(sys: &IrqSystem, rid: u32) -> Result<u32, IrqError> {
    msi_alloc_masking(sys, rid, MsiMasking::NoMask)
}

fn msi_alloc_masking(sys: &IrqSystem, rid: u32, m: MsiMasking) -> Result<u32, IrqError> {
    let x86 = get().ok_or(IrqError::NotFound("x86 domains not set up"))?;
    with_legacy_held(sys, NR_IRQS_LEGACY, || x86.msi_alloc_masking(sys, rid, 1, m))
}

/// How the PCI-MSI domain moved its MSIs so far.
pub fn msi_move_stats() -> MsiMoveStats {
    get().map(|x| x.msi_move_stats()).unwrap_or_default()
}

/// Points kernel-owned `vector` on `cpu` at `irq` (outside the domains).
pub fn bind_vector(cpu: usize, vector: u8, irq: u32) {
    percpu::area(cpu).vector_irq[vector as usize].store(irq, Ordering::Release);
}

/// `common_interrupt` for a device vector on this CPU: a kernel-owned vector runs its
/// descriptor (whose flow handler EOIs through its chip), every other one goes through
/// the domains' vector table (which EOIs, also for a vector with no irq). Returns the
/// irq, `None` for a stray hit on a vector a move left behind (dropped silently).
pub fn handle_device_vector(
    sys: &IrqSystem,
    ctx: &HardIrq,
    vector: u8,
) -> Result<Option<u32>, IrqError> {
    let area = percpu::this_area();
    let irq = area.vector_irq[vector as usize].load(Ordering::Acquire);
    if irq != VECTOR_UNUSED {
        return match sys.generic_handle_irq(irq, ctx) {
            Ok(()) => Ok(Some(irq)),
            Err(e) => {
                LapicDriver::eoi(&mmio::lapic());
                Err(e)
            }
        };
    }
    match get() {
        Some(x86) => {
            let before = x86.cleanup_pending_mask();
            let r = x86.handle_vector(sys, ctx, vector);
            // A move completed here left its old vector to an idle CPU, whose tick may
            // be stopped: kick it so it keeps the tick until the cleanup (Linux arms a
            // timer there, whose enqueue wakes a NOHZ CPU).
            let new = x86.cleanup_pending_mask() & !before & !(1u64 << percpu::this_cpu());
            for c in crate::irq::bits(new) {
                let _ = sys
                    .platform()
                    .send_ipi(irqkit_core::CpuId(c as u32), irqkit_core::Ipi::Reschedule);
            }
            r
        }
        None => {
            LapicDriver::eoi(&mmio::lapic());
            Err(IrqError::NotFound("No irq handler for vector"))
        }
    }
}

/// True if `cpu` holds an old vector its tick must release.
pub fn cleanup_pending(cpu: usize) -> bool {
    get().is_some_and(|x86| x86.cleanup_pending(cpu as u32))
}

/// `__vector_cleanup` on this CPU (from its tick).
pub fn vector_cleanup() {
    if let Some(x86) = get() {
        x86.vector_cleanup();
    }
}
