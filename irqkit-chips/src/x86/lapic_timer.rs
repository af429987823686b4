//! Local APIC timer: one-shot, periodic and TSC-deadline modes, driven by a time the
//! runtime passes in (one unit = one APIC bus clock = one TSC tick in this model).

use super::lapic::{lvt, LVT_MASKED};
use super::lapic_set::LapicSet;
use irqkit_core::IrqError;

/// LVT timer mode field (bits 18:17).
pub mod mode {
    /// One-shot.
    pub const ONESHOT: u32 = 0 << 17;
    /// Periodic.
    pub const PERIODIC: u32 = 1 << 17;
    /// TSC-deadline.
    pub const TSC_DEADLINE: u32 = 2 << 17;
    /// Mask of the field.
    pub const MASK: u32 = 3 << 17;
}

/// Timer state of one LAPIC.
#[derive(Clone, Copy, Default, Debug)]
pub struct Timer {
    pub(crate) initial: u32,
    pub(crate) divide: u32,
    pub(crate) start: u64,
    pub(crate) deadline: Option<u64>,
    pub(crate) tsc_deadline: u64,
    pub(crate) now: u64,
    pub(crate) fired: u64,
}

impl Timer {
    /// Divide configuration register → divisor (encoding bits 3,1,0).
    pub fn divisor(&self) -> u64 {
        let e = (self.divide & 3) | ((self.divide >> 1) & 4);
        if e == 7 {
            1
        } else {
            2 << e
        }
    }

    pub(crate) fn write_initial(&mut self, lvt_timer: u32, v: u32) {
        self.initial = v;
        self.start = self.now;
        self.deadline = (v != 0 && lvt_timer & mode::MASK != mode::TSC_DEADLINE)
            .then(|| self.now.saturating_add(v as u64 * self.divisor()));
    }

    /// Current-count register at the last time passed in.
    pub fn current(&self, lvt_timer: u32) -> u32 {
        let Some(d) = self.deadline else { return 0 };
        if lvt_timer & mode::MASK == mode::TSC_DEADLINE {
            return 0;
        }
        (d.saturating_sub(self.now) / self.divisor()) as u32
    }

    /// Moves time to `now`; returns whether the timer expired (at least once).
    pub(crate) fn advance(&mut self, lvt_timer: u32, now: u64) -> bool {
        self.now = self.now.max(now);
        let now = self.now;
        if lvt_timer & mode::MASK == mode::TSC_DEADLINE {
            if self.tsc_deadline != 0 && now >= self.tsc_deadline {
                self.tsc_deadline = 0;
                return true;
            }
            return false;
        }
        let Some(d) = self.deadline else { return false };
        if now < d {
            return false;
        }
        if lvt_timer & mode::MASK == mode::PERIODIC {
            let period = (self.initial as u64 * self.divisor()).max(1);
            let missed = (now - d) / period;
            // Saturating: a runtime may pass any u64 as "now".
            self.deadline = Some(d.saturating_add((missed + 1).saturating_mul(period)));
            self.start = d.saturating_add(missed.saturating_mul(period));
        } else {
            self.deadline = None;
        }
        true
    }

    /// When the timer next expires, if armed.
    pub fn next_event(&self, lvt_timer: u32) -> Option<u64> {
        if lvt_timer & mode::MASK == mode::TSC_DEADLINE {
            (self.tsc_deadline != 0).then_some(self.tsc_deadline)
        } else {
            self.deadline
        }
    }
}

impl LapicSet {
    /// Moves `cpu`'s time to `now`, firing the LVT timer vector if it expired (unless
    /// masked). Returns whether it fired.
    pub fn advance_time(&self, cpu: u32, now: u64) -> Result<bool, IrqError> {
        self.with(|i| {
            let l = i.cpus.get_mut(cpu as usize).ok_or(IrqError::CpuOffline(cpu))?;
            let lv = l.lvt[lvt::TIMER];
            let fired = l.timer.advance(lv, now);
            if fired {
                l.timer.fired += 1;
                if lv & LVT_MASKED == 0 {
                    l.accept(lv as u8, false);
                }
            }
            Ok(fired)
        })
    }

    /// IA32_TSC_DEADLINE MSR write on `cpu` (0 disarms).
    pub fn write_tsc_deadline(&self, cpu: u32, deadline: u64) -> Result<(), IrqError> {
        self.with(|i| {
            let l = i.cpus.get_mut(cpu as usize).ok_or(IrqError::CpuOffline(cpu))?;
            l.timer.tsc_deadline = deadline;
            Ok(())
        })
    }

    /// When `cpu`'s timer next needs [`LapicSet::advance_time`].
    pub fn next_timer_event(&self, cpu: u32) -> Option<u64> {
        let g = self.inner.lock();
        let l = g.cpus.get(cpu as usize)?;
        l.timer.next_event(l.lvt[lvt::TIMER])
    }
}
