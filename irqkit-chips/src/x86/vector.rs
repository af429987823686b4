//! x86 vector space (spec 8.1, arch/x86/include/asm/irq_vectors.h) and the per-CPU
//! vector → interrupt table (`vector_irq`).
//!
//! 0–31 are exceptions, external vectors start at 0x20, legacy ISA IRQ n sits at
//! 0x30 + n, and the system vectors occupy the top, from `FIRST_SYSTEM_VECTOR` (0xEB)
//! to the spurious vector 0xFF.

/// Vectors per CPU.
pub const NR_VECTORS: usize = 256;
/// NMI exception vector.
pub const NMI_VECTOR: u8 = 0x02;
/// First vector an external interrupt may use.
pub const FIRST_EXTERNAL_VECTOR: u8 = 0x20;
/// The 32-bit system-call gate (IA32 emulation).
pub const IA32_SYSCALL_VECTOR: u8 = 0x80;
/// Vector of legacy ISA IRQ 0.
pub const ISA_IRQ_VECTOR_BASE: u8 = 0x30;
/// Number of legacy (ISA) IRQs.
pub const NR_IRQS_LEGACY: u32 = 16;
/// Spurious APIC interrupt (low nibble must be 0xF).
pub const SPURIOUS_APIC_VECTOR: u8 = 0xFF;
/// APIC error interrupt.
pub const ERROR_APIC_VECTOR: u8 = 0xFE;
/// Reschedule IPI.
pub const RESCHEDULE_VECTOR: u8 = 0xFD;
/// Call-function IPI.
pub const CALL_FUNCTION_VECTOR: u8 = 0xFC;
/// Single-target call-function IPI.
pub const CALL_FUNCTION_SINGLE_VECTOR: u8 = 0xFB;
/// Thermal interrupt.
pub const THERMAL_APIC_VECTOR: u8 = 0xFA;
/// MCE threshold interrupt.
pub const THRESHOLD_APIC_VECTOR: u8 = 0xF9;
/// Reboot IPI.
pub const REBOOT_VECTOR: u8 = 0xF8;
/// Platform IPI.
pub const X86_PLATFORM_IPI_VECTOR: u8 = 0xF7;
/// irq_work self-IPI.
pub const IRQ_WORK_VECTOR: u8 = 0xF6;
/// Mediated-PMU guest PMI.
pub const PERF_GUEST_MEDIATED_PMI_VECTOR: u8 = 0xF5;
/// AMD deferred error.
pub const DEFERRED_ERROR_VECTOR: u8 = 0xF4;
/// Hypervisor callback.
pub const HYPERVISOR_CALLBACK_VECTOR: u8 = 0xF3;
/// Posted interrupt.
pub const POSTED_INTR_VECTOR: u8 = 0xF2;
/// Posted interrupt wakeup.
pub const POSTED_INTR_WAKEUP_VECTOR: u8 = 0xF1;
/// Nested posted interrupt.
pub const POSTED_INTR_NESTED_VECTOR: u8 = 0xF0;
/// Vector a reserved-but-not-activated interrupt points at.
pub const MANAGED_IRQ_SHUTDOWN_VECTOR: u8 = 0xEF;
/// Hyper-V reenlightenment.
pub const HYPERV_REENLIGHTENMENT_VECTOR: u8 = 0xEE;
/// Hyper-V synthetic timer 0.
pub const HYPERV_STIMER0_VECTOR: u8 = 0xED;
/// Local APIC timer.
pub const LOCAL_TIMER_VECTOR: u8 = 0xEC;
/// Posted-MSI notification, the first system vector.
pub const POSTED_MSI_NOTIFICATION_VECTOR: u8 = 0xEB;
/// First system vector: external interrupts are allocated below it.
pub const FIRST_SYSTEM_VECTOR: u8 = POSTED_MSI_NOTIFICATION_VECTOR;

/// Vector of legacy ISA IRQ `irq` (0–15).
pub const fn isa_irq_vector(irq: u8) -> u8 {
    ISA_IRQ_VECTOR_BASE + (irq & 0xF)
}

/// Whether `v` is a CPU exception vector.
pub const fn is_exception(v: u8) -> bool {
    v < FIRST_EXTERNAL_VECTOR
}

/// Whether `v` is a system vector.
pub const fn is_system(v: u8) -> bool {
    v >= FIRST_SYSTEM_VECTOR
}

/// Priority class of a vector (what TPR/PPR compare).
pub const fn priority_class(v: u8) -> u8 {
    v >> 4
}

/// One slot of a CPU's vector → interrupt table.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum VectorSlot {
    /// Nothing installed (`VECTOR_UNUSED`): "No irq handler for cpu.vector".
    #[default]
    Unused,
    /// Cleared by a move or shutdown (`VECTOR_SHUTDOWN`): reset silently to unused.
    Shutdown,
    /// Marked by a non-maskable MSI move on the CPU it leaves (`VECTOR_RETRIGGERED`):
    /// a stray interrupt on it is reset silently to unused, not reported.
    Retriggered,
    /// Delivers interrupt number `irq`.
    Irq(u32),
}

/// A CPU's vector → interrupt table (`vector_irq`).
#[derive(Clone, Debug)]
pub struct VectorTable {
    slots: [VectorSlot; NR_VECTORS],
}

impl Default for VectorTable {
    fn default() -> Self {
        VectorTable { slots: [VectorSlot::Unused; NR_VECTORS] }
    }
}

impl VectorTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The slot of `v`.
    pub fn get(&self, v: u8) -> VectorSlot {
        self.slots[v as usize]
    }

    /// Installs `irq` at `v`.
    pub fn set(&mut self, v: u8, irq: u32) {
        self.slots[v as usize] = VectorSlot::Irq(irq);
    }

    /// Marks `v` shut down (after a move or free).
    pub fn clear(&mut self, v: u8) {
        self.slots[v as usize] = VectorSlot::Shutdown;
    }

    /// Marks `v` retriggered unless an irq uses it; returns whether it did.
    pub fn mark_retriggered(&mut self, v: u8) -> bool {
        let slot = &mut self.slots[v as usize];
        let free = matches!(*slot, VectorSlot::Unused | VectorSlot::Shutdown);
        if free {
            *slot = VectorSlot::Retriggered;
        }
        free
    }

    /// Looks up `v` for dispatch; a shut-down or retriggered slot is reset to unused,
    /// as Linux does.
    pub fn lookup(&mut self, v: u8) -> VectorSlot {
        let s = self.slots[v as usize];
        if matches!(s, VectorSlot::Shutdown | VectorSlot::Retriggered) {
            self.slots[v as usize] = VectorSlot::Unused;
        }
        s
    }
}
