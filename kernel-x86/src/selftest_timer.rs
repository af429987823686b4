//! Self-test of the high-resolution timer: a deadline interrupt arrives no earlier than
//! its deadline, in whichever mode the clock event runs (TSC-deadline when CPUID.01H:ECX
//! bit 24 says so, else LAPIC one-shot).

use crate::selftest::{check, wait_for, SECOND};
use crate::{clockevent, lapic, percpu};

/// Deadlines armed per run, each this far ahead.
const ROUNDS: u64 = 5;
const AHEAD_NS: u64 = 1_500_000;

/// Arms the calling CPU's high-resolution timer `ROUNDS` times; each expiry must be
/// handled once, at or after its deadline.
pub fn run() {
    let cpu = percpu::this_cpu();
    let start = clockevent::stats(cpu);
    let (mut ok, mut late_max, mut early_fire) = (true, 0u64, 0u64);
    for i in 0..ROUNDS {
        let before = clockevent::stats(cpu);
        let deadline = lapic::now_ns() + AHEAD_NS + i * 100_000;
        clockevent::arm_hrtimer(cpu, deadline);
        let fired = wait_for(SECOND, || clockevent::stats(cpu).hr_fired > before.hr_fired);
        let s = clockevent::stats(cpu);
        ok &= fired && s.hr_fired == before.hr_fired + 1 && s.hr_last_deadline == deadline;
        if s.hr_last_at < deadline {
            early_fire += 1;
        }
        late_max = late_max.max(s.hr_last_at.saturating_sub(deadline));
    }
    let early_irqs = clockevent::stats(cpu).early - start.early;
    let tsc_deadline = lapic::tsc_deadline_mode();
    check(
        ok && early_fire == 0 && (!tsc_deadline || early_irqs == 0),
        format_args!(
            "{ROUNDS} hrtimer deadlines on CPU{cpu} ({} mode) handled no earlier than due (latest {} us late; {early_irqs} early timer interrupts reprogrammed)",
            if tsc_deadline { "TSC-deadline" } else { "LAPIC one-shot" },
            late_max / 1000
        ),
    );
}
