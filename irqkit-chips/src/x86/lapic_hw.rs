//! Local APIC driver calls a kernel on real hardware needs beyond the modelled paths
//! (arch/x86/kernel/apic/apic.c, smpboot.c): the BSP's LINT1 NMI, the error status,
//! INIT/STARTUP IPIs, and one-shot / TSC-deadline timer programming.
//!
//! Like every [`LapicDriver`] call these touch only the calling CPU's APIC (each CPU
//! sees its own at the same address). ICR sends must run with local interrupts off:
//! a handler on this CPU sending its own IPI between the ICR2 and ICR writes would
//! change the destination under us (Linux's callers hold interrupts off too).

use irqkit_core::IrqError;

use super::apic_driver::LapicDriver;
use super::lapic::LVT_MASKED;
use super::lapic_regs::*;
use super::lapic_timer::mode;
use super::vector::FIRST_EXTERNAL_VECTOR;
use crate::mmio::Mmio;
use crate::trigger::poll_until;

/// ICR / LVT delivery mode NMI (bits 10:8 = 100).
const DM_NMI: u32 = 4 << 8;
/// ICR delivery mode INIT.
const DM_INIT: u32 = 5 << 8;
/// ICR delivery mode STARTUP.
const DM_STARTUP: u32 = 6 << 8;

/// Divide-configuration encodings of the timer (TDCR bits 3, 1:0).
pub mod divide {
    /// Divide by 1.
    pub const BY_1: u32 = 0b1011;
    /// Divide by 16 (what Linux uses).
    pub const BY_16: u32 = 0b0011;
}

impl LapicDriver {
    /// This APIC's ID (xAPIC: bits 31:24 of the ID register).
    pub fn id(apic: &impl Mmio) -> u32 {
        apic.read32(APIC_ID) >> 24
    }

    /// setup_local_APIC on the boot CPU: LINT1 delivers NMI (only the BSP sees the
    /// board's NMI line; [`LapicDriver::setup`] leaves it masked on the others).
    pub fn setup_lint1_nmi(apic: &impl Mmio) {
        apic.write32(APIC_LVT1, DM_NMI);
    }

    /// Reads the error status (the register latches on a write first).
    pub fn read_esr(apic: &impl Mmio) -> u32 {
        apic.write32(APIC_ESR, 0);
        apic.read32(APIC_ESR)
    }

    fn send_icr(apic: &impl Mmio, apic_id: u32, low: u32) -> Result<(), IrqError> {
        if apic_id > 0xFF {
            return Err(IrqError::InvalidArgument("xAPIC destination"));
        }
        poll_until("ICR busy", || apic.read32(APIC_ICR) & APIC_ICR_BUSY == 0)?;
        apic.write32(APIC_ICR2, apic_id << 24);
        apic.write32(APIC_ICR, low);
        // Real hardware: the next send must not start before this one left.
        poll_until("ICR busy", || apic.read32(APIC_ICR) & APIC_ICR_BUSY == 0)
    }

    /// wakeup_secondary_cpu_via_init, step 1: INIT (level assert) to `apic_id`.
    pub fn send_init(apic: &impl Mmio, apic_id: u32) -> Result<(), IrqError> {
        Self::send_icr(apic, apic_id, APIC_INT_ASSERT | DM_INIT)
    }

    /// STARTUP IPI: the target starts in real mode at `page << 12`.
    pub fn send_startup(apic: &impl Mmio, apic_id: u32, page: u8) -> Result<(), IrqError> {
        Self::send_icr(apic, apic_id, APIC_INT_ASSERT | DM_STARTUP | page as u32)
    }

    /// An NMI to the CPU with `apic_id` (the self shorthand is valid only for fixed
    /// delivery, so a self NMI names the sender's own ID).
    pub fn send_nmi(apic: &impl Mmio, apic_id: u32) -> Result<(), IrqError> {
        Self::send_icr(apic, apic_id, APIC_INT_ASSERT | DM_NMI)
    }

    /// One-shot mode at divide `div` (see [`divide`]) on `vector`, not yet armed;
    /// `masked` keeps it from interrupting (calibration).
    pub fn timer_oneshot(
        apic: &impl Mmio,
        vector: u8,
        div: u32,
        masked: bool,
    ) -> Result<(), IrqError> {
        if vector < FIRST_EXTERNAL_VECTOR {
            return Err(IrqError::InvalidArgument("timer vector"));
        }
        apic.write32(APIC_TDCR, div & 0xB);
        let m = if masked { LVT_MASKED } else { 0 };
        apic.write32(APIC_LVTT, mode::ONESHOT | m | vector as u32);
        Ok(())
    }

    /// Periodic mode at divide `div` on `vector`, not yet armed: every write of the
    /// initial count restarts it, and without one it fires again a full count later.
    pub fn timer_periodic(apic: &impl Mmio, vector: u8, div: u32) -> Result<(), IrqError> {
        if vector < FIRST_EXTERNAL_VECTOR {
            return Err(IrqError::InvalidArgument("timer vector"));
        }
        apic.write32(APIC_TDCR, div & 0xB);
        apic.write32(APIC_LVTT, mode::PERIODIC | vector as u32);
        Ok(())
    }

    /// Arms the one-shot timer with `count` (0 stops it): one MMIO write, the hot path
    /// of every timer interrupt in one-shot mode.
    #[inline]
    pub fn timer_arm(apic: &impl Mmio, count: u32) {
        apic.write32(APIC_TMICT, count);
    }

    /// The timer's current count.
    pub fn timer_current(apic: &impl Mmio) -> u32 {
        apic.read32(APIC_TMCCT)
    }

    /// TSC-deadline mode on `vector` (CPUID.01H:ECX bit 24). The caller then writes the
    /// deadline to MSR IA32_TSC_DEADLINE, after an MFENCE: the SDM orders the LVT write
    /// before the first MSR write only with one (Linux's `__setup_APIC_LVTT`).
    pub fn timer_tsc_deadline(apic: &impl Mmio, vector: u8) -> Result<(), IrqError> {
        if vector < FIRST_EXTERNAL_VECTOR {
            return Err(IrqError::InvalidArgument("timer vector"));
        }
        apic.write32(APIC_LVTT, mode::TSC_DEADLINE | vector as u32);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x86::LapicSet;

    #[test]
    fn init_startup_and_nmi_reach_the_target_and_bad_ids_are_refused() {
        let l = LapicSet::new(2).unwrap();
        let a = l.mmio_view(0);
        LapicDriver::setup(&a);
        LapicDriver::setup(&l.mmio_view(1));
        assert_eq!(LapicDriver::id(&l.mmio_view(1)), 1);
        LapicDriver::send_init(&a, 1).unwrap();
        LapicDriver::send_startup(&a, 1, 8).unwrap();
        LapicDriver::send_nmi(&a, 1).unwrap();
        assert!(l.cpu_lines(1).fiq, "the NMI is pending on CPU 1");
        assert!(matches!(LapicDriver::send_init(&a, 256), Err(IrqError::InvalidArgument(_))));
        assert!(matches!(
            LapicDriver::timer_oneshot(&a, 0x10, divide::BY_1, false),
            Err(IrqError::InvalidArgument(_))
        ));
        assert!(LapicDriver::timer_tsc_deadline(&a, 0x0F).is_err());
        assert!(LapicDriver::timer_periodic(&a, 0x1F, divide::BY_1).is_err());
    }

    #[test]
    fn oneshot_timer_counts_down_from_the_armed_value() {
        let l = LapicSet::new(1).unwrap();
        let a = l.mmio_view(0);
        LapicDriver::setup(&a);
        LapicDriver::timer_oneshot(&a, 0xEC, divide::BY_1, false).unwrap();
        LapicDriver::timer_arm(&a, 1000);
        assert_eq!(LapicDriver::timer_current(&a), 1000);
        l.advance_time(0, 400).unwrap();
        assert_eq!(LapicDriver::timer_current(&a), 600);
        // Periodic: the count reloads after expiring, so the timer fires again.
        LapicDriver::timer_periodic(&a, 0xEC, divide::BY_1).unwrap();
        LapicDriver::timer_arm(&a, 100);
        l.advance_time(0, 500).unwrap();
        assert!(l.irq_asserted(0));
        assert_eq!(l.acknowledge(0).unwrap(), 0xEC);
        l.eoi(0).unwrap();
        l.advance_time(0, 600).unwrap();
        assert!(l.irq_asserted(0), "fired again without a new count");
        LapicDriver::setup_lint1_nmi(&a);
        assert_eq!(a.read32(APIC_LVT1), DM_NMI);
        assert_eq!(LapicDriver::read_esr(&a), 0);
    }
}
