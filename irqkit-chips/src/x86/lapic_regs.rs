//! Local APIC register frame (xAPIC MMIO layout, spec 8.3): 32-bit registers on 16-byte
//! boundaries; ICR writes send IPIs through the [`LapicSet`].

use super::lapic::{lvt, DeliveryMode, Destination};
use super::lapic::{ESR_SEND_ILLEGAL_VECTOR, LVT_MASKED};
use super::lapic_set::{deliver_locked, LapicInner, LapicSet};
use crate::mmio::{CpuView, MmioError, MmioFrame, Width};

/// APIC ID.
pub const APIC_ID: usize = 0x20;
/// Version (bit 24: directed EOI capable).
pub const APIC_LVR: usize = 0x30;
/// Task priority.
pub const APIC_TASKPRI: usize = 0x80;
/// Arbitration priority.
pub const APIC_ARBPRI: usize = 0x90;
/// Processor priority.
pub const APIC_PROCPRI: usize = 0xA0;
/// End of interrupt.
pub const APIC_EOI: usize = 0xB0;
/// Logical destination.
pub const APIC_LDR: usize = 0xD0;
/// Destination format.
pub const APIC_DFR: usize = 0xE0;
/// Spurious-interrupt vector register.
pub const APIC_SPIV: usize = 0xF0;
/// In-service register bank.
pub const APIC_ISR: usize = 0x100;
/// Trigger-mode register bank.
pub const APIC_TMR: usize = 0x180;
/// Interrupt-request register bank.
pub const APIC_IRR: usize = 0x200;
/// Error status.
pub const APIC_ESR: usize = 0x280;
/// LVT CMCI.
pub const APIC_LVTCMCI: usize = 0x2F0;
/// Interrupt command, low word (writing it sends).
pub const APIC_ICR: usize = 0x300;
/// Interrupt command, high word (destination \[31:24\]).
pub const APIC_ICR2: usize = 0x310;
/// LVT timer.
pub const APIC_LVTT: usize = 0x320;
/// LVT thermal.
pub const APIC_LVTTHMR: usize = 0x330;
/// LVT performance counter.
pub const APIC_LVTPC: usize = 0x340;
/// LVT LINT0.
pub const APIC_LVT0: usize = 0x350;
/// LVT LINT1.
pub const APIC_LVT1: usize = 0x360;
/// LVT error.
pub const APIC_LVTERR: usize = 0x370;
/// Timer initial count.
pub const APIC_TMICT: usize = 0x380;
/// Timer current count.
pub const APIC_TMCCT: usize = 0x390;
/// Timer divide configuration.
pub const APIC_TDCR: usize = 0x3E0;
/// ICR destination shorthand: self.
pub const APIC_DEST_SELF: u32 = 0x40000;
/// ICR destination shorthand: all including self.
pub const APIC_DEST_ALLINC: u32 = 0x80000;
/// ICR destination shorthand: all but self.
pub const APIC_DEST_ALLBUT: u32 = 0xC0000;
/// ICR level assert.
pub const APIC_INT_ASSERT: u32 = 0x4000;
/// ICR delivery status (send pending).
pub const APIC_ICR_BUSY: u32 = 0x1000;
/// ICR logical destination mode.
pub const APIC_DEST_LOGICAL: u32 = 0x800;
/// ICR delivery mode NMI.
pub const APIC_DM_NMI: u32 = 0x400;
const FRAME: usize = 0x1000;
/// Version register value: version 0x15, 7 LVT entries, directed EOI capable.
pub const LAPIC_VERSION: u32 = 0x15 | 6 << 16 | 1 << 24;

fn lvt_index(off: usize) -> Option<usize> {
    Some(match off {
        APIC_LVTCMCI => lvt::CMCI,
        APIC_LVTT => lvt::TIMER,
        APIC_LVTTHMR => lvt::THERMAL,
        APIC_LVTPC => lvt::PMC,
        APIC_LVT0 => lvt::LINT0,
        APIC_LVT1 => lvt::LINT1,
        APIC_LVTERR => lvt::ERROR,
        _ => return None,
    })
}

fn check(i: &LapicInner, cpu: u32, off: usize, w: Width) -> Result<(), MmioError> {
    if off >= FRAME {
        return Err(MmioError::OutOfRange { offset: off });
    }
    if w != Width::W32 || !off.is_multiple_of(16) {
        return Err(MmioError::BadWidth { offset: off, width: w });
    }
    if cpu as usize >= i.cpus.len() {
        return Err(MmioError::NoSuchCpu(cpu));
    }
    Ok(())
}

pub(crate) fn read(i: &LapicInner, cpu: u32, off: usize, w: Width) -> Result<u64, MmioError> {
    check(i, cpu, off, w)?;
    let l = &i.cpus[cpu as usize];
    let v = match off {
        APIC_ID => l.id << 24,
        APIC_LVR => LAPIC_VERSION,
        APIC_TASKPRI => l.tpr,
        APIC_PROCPRI => l.ppr() as u32,
        APIC_LDR => l.ldr,
        APIC_DFR => l.dfr,
        APIC_SPIV => l.svr,
        0x100..=0x170 => l.isr[(off - APIC_ISR) / 16],
        0x180..=0x1F0 => l.tmr[(off - APIC_TMR) / 16],
        0x200..=0x270 => l.irr[(off - APIC_IRR) / 16],
        APIC_ESR => l.esr,
        APIC_ICR => l.icr_lo & !APIC_ICR_BUSY,
        APIC_ICR2 => l.icr_hi,
        APIC_TMICT => l.timer.initial,
        APIC_TMCCT => l.timer.current(l.lvt[lvt::TIMER]),
        APIC_TDCR => l.timer.divide,
        o => lvt_index(o).map_or(0, |n| l.lvt[n]),
    };
    Ok(v as u64)
}

/// Writes a register; returns a vector to broadcast-EOI when the write was an EOI.
pub(crate) fn write(
    i: &mut LapicInner,
    cpu: u32,
    off: usize,
    w: Width,
    val: u64,
) -> Result<Option<u8>, MmioError> {
    check(i, cpu, off, w)?;
    let v = val as u32;
    let l = &mut i.cpus[cpu as usize];
    match off {
        APIC_TASKPRI => l.tpr = v & 0xFF,
        APIC_EOI => return Ok(l.eoi()),
        APIC_LDR => l.ldr = v & 0xFF00_0000,
        APIC_DFR => l.dfr = v | 0x0FFF_FFFF,
        APIC_SPIV => {
            l.svr = v & 0x13FF;
            if v & super::lapic::SVR_APIC_ENABLED == 0 {
                // Software disable masks every LVT entry.
                l.lvt.iter_mut().for_each(|e| *e |= LVT_MASKED);
            }
        }
        APIC_ESR => {
            l.esr = l.esr_pending;
            l.esr_pending = 0;
        }
        APIC_ICR2 => l.icr_hi = v & 0xFF00_0000,
        APIC_ICR => {
            l.icr_lo = v;
            send_ipi(i, cpu, v);
        }
        APIC_TMICT => {
            let lv = l.lvt[lvt::TIMER];
            l.timer.write_initial(lv, v);
        }
        APIC_TDCR => l.timer.divide = v & 0xB,
        o => {
            if let Some(n) = lvt_index(o) {
                let keep = if l.enabled() { 0 } else { LVT_MASKED };
                l.lvt[n] = (v & 0x7_17FF) | keep;
            }
        }
    }
    Ok(None)
}

/// Sends the IPI an ICR low-word write describes.
fn send_ipi(i: &mut LapicInner, cpu: u32, lo: u32) {
    let hi = i.cpus[cpu as usize].icr_hi;
    let vector = lo as u8;
    let Some(mode) = DeliveryMode::from_bits(lo >> 8) else { return };
    let dest = match lo & 0xC0000 {
        APIC_DEST_SELF => Destination::SelfOnly,
        APIC_DEST_ALLINC => Destination::AllIncludingSelf,
        APIC_DEST_ALLBUT => Destination::AllExcludingSelf,
        _ if lo & APIC_DEST_LOGICAL != 0 => Destination::Logical((hi >> 24) as u8),
        _ => Destination::Physical(hi >> 24),
    };
    let fixed = matches!(mode, DeliveryMode::Fixed | DeliveryMode::LowestPriority);
    if fixed && vector < 16 {
        i.cpus[cpu as usize].signal_error(ESR_SEND_ILLEGAL_VECTOR);
        return;
    }
    // IPIs from the ICR are edge-triggered; a missing target is simply not delivered.
    let _ = deliver_locked(i, Some(cpu), dest, mode, vector, false);
}

/// The xAPIC register frame of a [`LapicSet`], bound to a CPU by [`CpuView`].
#[derive(Clone, Copy)]
pub struct LapicFrame<'a>(pub(crate) &'a LapicSet);

impl MmioFrame for LapicFrame<'_> {
    fn frame_read(&self, cpu: u32, offset: usize, width: Width) -> Result<u64, MmioError> {
        read(&self.0.inner.lock(), cpu, offset, width)
    }
    fn frame_write(&self, cpu: u32, off: usize, w: Width, val: u64) -> Result<(), MmioError> {
        self.0.with_eoi(|i| match write(i, cpu, off, w, val) {
            Ok(eoi) => (Ok(()), eoi),
            Err(e) => (Err(e), None),
        })
    }
}

impl LapicSet {
    /// `cpu`'s LAPIC registers (each CPU sees its own LAPIC at the same address).
    pub fn mmio_view(&self, cpu: u32) -> CpuView<LapicFrame<'_>> {
        CpuView::new(LapicFrame(self), cpu)
    }
}
