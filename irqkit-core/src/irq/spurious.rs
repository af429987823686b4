//! Spurious/unhandled interrupt detection (kernel/irq/spurious.c, spec 1.11).
//!
//! A line that keeps firing with nobody handling it would live-lock a CPU. Linux
//! counts, from the first unhandled interrupt on, a window of 100,000 interrupts; if
//! **more than** 99,900 of them were unhandled ("nobody cared"), the line is disabled
//! and polled every 100 ms instead. Unhandled interrupts more than HZ/10 apart restart
//! the unhandled count at 1, so rare stray interrupts never add up. `irqfixup` polls
//! every other line when one goes unhandled (misrouted interrupts), `irqpoll` also on
//! handled interrupts of irq 0 and IRQF_IRQPOLL lines.

use alloc::format;

use super::desc::{DescInner, IrqDesc};
use super::flags::{Flags, IrqReturn, IrqSettings, IrqsState};
use super::handle::handle_irq_event_percpu;
use crate::cpu::HardIrq;
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

/// Window of counted interrupts (spurious.c: `irq_count < 100000`).
const SPURIOUS_WINDOW: u32 = 100_000;
/// Disable when *more than* this many of the window were unhandled: 99.9 %, so a
/// line that is handled even once in a thousand is left alone.
const SPURIOUS_THRESHOLD: u32 = 99_900;
/// Bit 31 of `threads_handled_last`: evaluation deferred to the next hard interrupt.
const SPURIOUS_DEFERRED: u32 = 0x8000_0000;
/// At most this many "bogus return value" reports per boot.
const MAX_BAD_REPORTS: u32 = 100;

/// The `irqfixup` / `irqpoll` boot parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum IrqFixup {
    /// Off (default).
    #[default]
    Off = 0,
    /// `irqfixup`: poll other lines when one is unhandled.
    Fixup = 1,
    /// `irqpoll`: also poll on handled interrupts of irq 0 / IRQPOLL lines.
    Poll = 2,
}

impl IrqFixup {
    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            1 => IrqFixup::Fixup,
            2 => IrqFixup::Poll,
            _ => IrqFixup::Off,
        }
    }
}

fn jiffies(sys: &IrqSystem) -> u64 {
    sys.now_ns() / (1_000_000_000 / sys.config().hz as u64).max(1)
}

/// `note_interrupt`: account one hard-interrupt result (descriptor lock held). Handled
/// with nothing unhandled in the window and no `irqfixup` changes no state: inline exit.
#[inline(always)]
pub(crate) fn note_interrupt(
    sys: &IrqSystem,
    desc: &IrqDesc,
    inner: &mut DescInner,
    ret: IrqReturn,
) {
    let fixup = sys.irq.irqfixup();
    if ret == IrqReturn::HANDLED && inner.irqs_unhandled == 0 && fixup == IrqFixup::Off {
        return;
    }
    note_interrupt_slow(sys, desc, inner, ret)
}

#[inline(never)]
fn note_interrupt_slow(sys: &IrqSystem, desc: &IrqDesc, inner: &mut DescInner, ret: IrqReturn) {
    if inner.istate.contains(IrqsState::POLL_INPROGRESS)
        || inner.settings.contains(IrqSettings::IS_POLLED)
    {
        return;
    }
    let mut ret = ret;
    if ret.0 > (IrqReturn::HANDLED | IrqReturn::WAKE_THREAD).0 {
        report_bad_irq(sys, desc, inner, ret);
        return;
    }
    if ret.contains(IrqReturn::WAKE_THREAD) {
        if ret == IrqReturn::WAKE_THREAD {
            let handled = desc.threads_handled.load(Ordering::Acquire) | SPURIOUS_DEFERRED;
            if inner.threads_handled_last & SPURIOUS_DEFERRED == 0 {
                inner.threads_handled_last |= SPURIOUS_DEFERRED;
                return;
            }
            if handled != inner.threads_handled_last {
                ret = IrqReturn::HANDLED;
                inner.threads_handled_last = handled;
            } else {
                ret = IrqReturn::NONE;
            }
        } else {
            inner.threads_handled_last &= !SPURIOUS_DEFERRED;
        }
    }
    if ret == IrqReturn::NONE {
        let now = jiffies(sys);
        let hz10 = (sys.config().hz / 10) as u64;
        if now > inner.last_unhandled + hz10 {
            inner.irqs_unhandled = 1;
        } else {
            inner.irqs_unhandled += 1;
        }
        inner.last_unhandled = now;
    }
    let mode = sys.irq.irqfixup();
    if mode != IrqFixup::Off {
        let first_pollable = inner
            .actions
            .as_ref()
            .and_then(|l| l.first())
            .is_some_and(|a| a.flags.contains(Flags::IRQPOLL));
        if ret == IrqReturn::NONE || (mode == IrqFixup::Poll && (desc.irq() == 0 || first_pollable))
        {
            let handled = misrouted_irq(sys, desc.irq());
            if ret == IrqReturn::NONE && handled {
                inner.irqs_unhandled -= 1;
            }
        }
    }
    if inner.irqs_unhandled == 0 {
        return;
    }
    inner.irq_count += 1;
    if inner.irq_count < SPURIOUS_WINDOW {
        return;
    }
    inner.irq_count = 0;
    if inner.irqs_unhandled > SPURIOUS_THRESHOLD {
        report_bad_irq(sys, desc, inner, ret);
        sys.irq.log_line(sys, format!("Disabling IRQ #{}", desc.irq()));
        inner.istate.insert(IrqsState::SPURIOUS_DISABLED);
        inner.depth += 1;
        super::chip_state::irq_disable(desc, inner);
        sys.irq.poll_armed.store(true, Ordering::Release);
        if let Some(h) = sys.irq.hooks() {
            h.arm_spurious_poll(100_000_000);
        }
    }
    inner.irqs_unhandled = 0;
}

/// `__report_bad_irq`: the "nobody cared" (or bogus value) report listing handlers.
fn report_bad_irq(sys: &IrqSystem, desc: &IrqDesc, inner: &DescInner, ret: IrqReturn) {
    let bogus = ret.0 > (IrqReturn::HANDLED | IrqReturn::WAKE_THREAD).0;
    if bogus {
        if sys.irq.bogus_reports.fetch_add(1, Ordering::Relaxed) >= MAX_BAD_REPORTS {
            return;
        }
        sys.irq.log_line(sys, format!("irq event {}: bogus return value {:x}", desc.irq(), ret.0));
    } else {
        sys.irq.log_line(
            sys,
            format!("irq {}: nobody cared (try booting with the \"irqpoll\" option)", desc.irq()),
        );
    }
    sys.irq.log_line(sys, "handlers:".into());
    for a in inner.actions.iter().flat_map(|l| l.iter()) {
        let mut line = format!("[<{:p}>] {}", alloc::sync::Arc::as_ptr(a), a.name());
        if a.is_threaded() {
            line.push_str(&format!(" threaded [<{:p}>] {}", alloc::sync::Arc::as_ptr(a), a.name()));
        }
        sys.irq.log_line(sys, line);
    }
}

/// `try_one_irq`: poll one shared line; true if a run returned exactly HANDLED.
fn try_one_irq(sys: &IrqSystem, desc: &IrqDesc, force: bool) -> bool {
    let mut g = desc.inner.lock_irqsave(sys);
    if desc.is_per_cpu()
        || g.settings.intersects(IrqSettings::NESTED_THREAD | IrqSettings::IS_POLLED)
        || (desc.is_disabled() && !force)
    {
        return false;
    }
    let ok_first =
        g.actions.as_ref().and_then(|l| l.first()).is_some_and(|a| {
            a.flags.contains(Flags::SHARED) && !a.flags.contains(Flags::TIMER_BIT)
        });
    if !ok_first {
        return false;
    }
    if desc.in_progress() {
        // Tell the CPU running it to loop once more.
        g.istate.insert(IrqsState::PENDING);
        return false;
    }
    g.istate.insert(IrqsState::POLL_INPROGRESS);
    // Polling runs with local interrupts masked, as the hard handler would.
    let ctx = HardIrq::entered();
    let mut handled = false;
    loop {
        g.istate.remove(IrqsState::PENDING);
        desc.irqd_set(super::flags::IrqdState::IRQ_INPROGRESS);
        let actions = g.actions.clone();
        drop(g);
        if let Some(list) = &actions {
            if handle_irq_event_percpu(sys, desc, list, &ctx, sys.this_cpu_opt())
                == IrqReturn::HANDLED
            {
                handled = true;
            }
        }
        g = desc.inner.lock_irqsave(sys);
        desc.irqd_clear(super::flags::IrqdState::IRQ_INPROGRESS);
        if !(g.istate.contains(IrqsState::PENDING) && g.has_action()) {
            break;
        }
    }
    g.istate.remove(IrqsState::POLL_INPROGRESS);
    handled
}

fn claim_poller(sys: &IrqSystem) -> bool {
    let me = sys.current_cpu().map(|c| c.0 + 1).unwrap_or(u32::MAX);
    sys.irq.poller.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire).is_ok()
}

/// `misrouted_irq`: poll every line except 0 and `irq`; one poller at a time.
fn misrouted_irq(sys: &IrqSystem, irq: u32) -> bool {
    if !claim_poller(sys) {
        return false;
    }
    let mut ok = false;
    for d in sys.irq.descs.iter() {
        if d.irq() != 0 && d.irq() != irq && try_one_irq(sys, d, false) {
            ok = true;
        }
    }
    sys.irq.poller.store(0, Ordering::Release);
    ok
}

impl IrqSystem {
    /// `poll_spurious_irqs`: the 100 ms poll timer body — polls (forced, local
    /// interrupts off) every line the detector disabled, then re-arms itself.
    pub fn poll_spurious_irqs(&self) {
        if claim_poller(self) {
            for d in self.irq.descs.iter() {
                let disabled =
                    d.inner.lock_irqsave(self).istate.contains(IrqsState::SPURIOUS_DISABLED);
                if disabled {
                    let flags = self.local_irq_save();
                    try_one_irq(self, d, true);
                    self.local_irq_restore(flags);
                }
            }
            self.irq.poller.store(0, Ordering::Release);
        }
        if let Some(h) = self.irq.hooks() {
            h.arm_spurious_poll(100_000_000);
        }
    }

    /// True once the detector disabled a line and the poll timer should run.
    pub fn spurious_poll_armed(&self) -> bool {
        self.irq.poll_armed.load(Ordering::Acquire)
    }
}
