//! Per-CPU areas: one static slot per possible CPU, found through the GS base.
//!
//! Each CPU's slot holds its number (read with one `gs:` load, which is what
//! `Platform::current_cpu` costs), its APIC id, the `/proc/interrupts` counters and the
//! mailboxes of the IPI test. GDT, TSS and IST stacks live in [`crate::gdt`].

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::arch::wrmsr;

/// Most CPUs the image brings up (QEMU is asked for at most 8; slack for 16).
pub const MAX_CPUS: usize = 16;
const IA32_GS_BASE: u32 = 0xC000_0101;

/// One CPU's area. `cpu` must stay the first field: `current_cpu` reads `gs:[0]`.
#[repr(C, align(64))]
pub struct CpuArea {
    /// This CPU's number (index into every per-CPU array).
    pub cpu: u32,
    /// Its local APIC id.
    pub apic_id: AtomicU32,
    /// Set once the CPU has installed its GDT/IDT/APIC and enabled interrupts.
    pub online: AtomicBool,
    /// Interrupts handled per vector (the `/proc/interrupts` columns).
    pub vector_counts: [AtomicU64; 256],
    /// Bit `s`: CPU `s` pinged this CPU and waits for the answer.
    pub ping_from: AtomicU64,
    /// Bit `d`: CPU `d` answered this CPU's ping; the answer IPI is on its way.
    pub pong_pending: AtomicU64,
    /// Bit `d`: CPU `d`'s answer IPI arrived here.
    pub pong_from: AtomicU64,
    /// Interrupts that arrived while the soft mask was set, one bit per vector.
    pub deferred: [AtomicU64; 4],
    /// Number of interrupts the lazy mask deferred (and later replayed).
    pub deferred_count: AtomicU64,
    /// Periodic ticks (timer interrupts that were due for the tick).
    pub ticks: AtomicU64,
    /// TSC cycles spent halted in the idle loop.
    pub halted_tsc: AtomicU64,
    /// Set once this CPU runs its idle thread under the scheduler.
    pub sched_ready: AtomicBool,
    /// The context being switched away from (`switch::finish_switch` releases it).
    pub switch_prev: AtomicU64,
    /// Interrupt returns diverted into `preempt_schedule_irq`.
    pub irq_preemptions: AtomicU64,
    /// Set when a tick handler saw `in_hardirq()` false (an irq_enter bug).
    pub bad_context: AtomicBool,
    /// Linux's per-CPU `vector_irq`: the irq each device vector raises on this CPU.
    pub vector_irq: [AtomicU32; 256],
    /// Device vectors that arrived with no irq bound here (Linux: "No irq handler").
    pub unknown_vectors: AtomicU64,
    /// Device interrupts delivered here per irq (irqs below [`NR_COUNTED_IRQS`]), which
    /// the self-test compares with `/proc/interrupts`: vectors change when lines move.
    pub irq_deliveries: [AtomicU64; NR_COUNTED_IRQS],
    /// TSC at the last entry of the timer vector (before any lazy-mask deferral), for
    /// the cyclictest latency breakdown.
    pub timer_entry_tsc: AtomicU64,
    /// The interrupted instruction pointer at that entry: where the CPU was when the
    /// timer interrupt reached it (the cyclictest's worst-sample report).
    pub timer_entry_rip: AtomicU64,
}

/// Irqs whose per-CPU deliveries [`CpuArea::irq_deliveries`] counts.
pub const NR_COUNTED_IRQS: usize = 32;

#[allow(clippy::declare_interior_mutable_const)]
const Z64: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const UNUSED: AtomicU32 = AtomicU32::new(crate::x86irq::VECTOR_UNUSED);

impl CpuArea {
    const fn new(cpu: u32) -> Self {
        CpuArea {
            cpu,
            apic_id: AtomicU32::new(u32::MAX),
            online: AtomicBool::new(false),
            vector_counts: [Z64; 256],
            ping_from: AtomicU64::new(0),
            pong_pending: AtomicU64::new(0),
            pong_from: AtomicU64::new(0),
            deferred: [Z64; 4],
            deferred_count: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            halted_tsc: AtomicU64::new(0),
            sched_ready: AtomicBool::new(false),
            irq_preemptions: AtomicU64::new(0),
            switch_prev: AtomicU64::new(0),
            bad_context: AtomicBool::new(false),
            vector_irq: [UNUSED; 256],
            unknown_vectors: AtomicU64::new(0),
            irq_deliveries: [Z64; NR_COUNTED_IRQS],
            timer_entry_tsc: AtomicU64::new(0),
            timer_entry_rip: AtomicU64::new(0),
        }
    }

    /// Count of `vector` on this CPU.
    pub fn count(&self, vector: u8) -> u64 {
        self.vector_counts[vector as usize].load(Ordering::Relaxed)
    }

    /// Device interrupts of `irq` delivered on this CPU (0 beyond the counted irqs).
    pub fn irq_count(&self, irq: u32) -> u64 {
        self.irq_deliveries.get(irq as usize).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

static AREAS: [CpuArea; MAX_CPUS] = {
    let mut i = 0;
    // `CpuArea` is not Copy; build the array element by element in a const block.
    let mut a = [const { CpuArea::new(0) }; MAX_CPUS];
    while i < MAX_CPUS {
        a[i].cpu = i as u32;
        i += 1;
    }
    a
};

/// The area of `cpu`.
pub fn area(cpu: usize) -> &'static CpuArea {
    &AREAS[cpu]
}

/// Points this CPU's GS base at its area. Called once per CPU during bring-up.
pub fn install(cpu: usize) {
    // SAFETY: the kernel never uses GS for anything else; the area is 'static.
    unsafe { wrmsr(IA32_GS_BASE, &AREAS[cpu] as *const CpuArea as u64) };
}

/// The calling CPU's number. Only meaningful once `install` ran on this CPU (the boot
/// code installs it before anything that asks).
#[inline]
pub fn this_cpu() -> usize {
    let v: u32;
    // SAFETY: GS points at this CPU's `CpuArea` (installed before interrupts or any
    // per-CPU call), whose first field is the CPU number.
    unsafe { asm!("mov {:e}, gs:[0]", out(reg) v, options(nostack, readonly, preserves_flags)) };
    v as usize
}

/// This CPU's area.
#[inline]
pub fn this_area() -> &'static CpuArea {
    area(this_cpu())
}
