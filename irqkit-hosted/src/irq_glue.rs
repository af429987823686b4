//! Wires the generic IRQ and bottom-half layers into the hosted machine: the services
//! `IrqHooks` asks for (spurious poll timer, resend tasklet, the x86 arch rows of
//! `/proc/interrupts`) and the `catch_unwind` guard around driver handlers.

use std::fmt::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};

use irqkit_core::cpu::CpuMask;
use irqkit_core::irq::arch_row;
use irqkit_core::irq::{IrqHooks, IrqReturn};
use irqkit_core::tasklet::Tasklet;
use irqkit_core::timer::Timer;
use irqkit_core::IrqSystem;

use crate::shared::Shared;
use crate::vectors::*;

/// The hosted machine's services for the generic IRQ layer.
pub(crate) struct HostIrqHooks {
    sys: Weak<IrqSystem>,
    shared: Weak<Shared>,
    poll: Timer,
    resend: Tasklet,
}

impl HostIrqHooks {
    pub(crate) fn install(sys: &Arc<IrqSystem>, shared: &Arc<Shared>) {
        let weak = Arc::downgrade(sys);
        let w2 = weak.clone();
        let hooks = HostIrqHooks {
            sys: weak,
            shared: Arc::downgrade(shared),
            poll: Timer::new(|sys, _t, _ctx| sys.poll_spurious_irqs()),
            resend: Tasklet::new(move |ctx| {
                if let Some(sys) = w2.upgrade() {
                    sys.irq_resend_run(ctx);
                }
            }),
        };
        sys.irq.set_hooks(Arc::new(hooks));
        sys.irq.set_handler_guard(guard);
    }
}

/// Contains a panicking driver handler: the core marks the action broken and keeps
/// every other line working.
fn guard(f: &mut dyn FnMut() -> IrqReturn) -> Result<IrqReturn, ()> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| ())
}

impl IrqHooks for HostIrqHooks {
    fn arm_spurious_poll(&self, delay_ns: u64) {
        if let Some(sys) = self.sys.upgrade() {
            let j = sys.jiffies() + (delay_ns * sys.config().hz as u64).div_ceil(1_000_000_000);
            self.poll.modify(&sys, j.max(sys.jiffies() + 1));
        }
    }

    fn schedule_resend(&self) {
        if let Some(sys) = self.sys.upgrade() {
            let _ = self.resend.schedule(&sys);
        }
    }

    fn arch_show_interrupts(&self, out: &mut String, online: &CpuMask, prec: usize) {
        let Some(shared) = self.shared.upgrade() else { return };
        let col = |f: &dyn Fn(&crate::hostcpu::HostCpu) -> u64| -> Vec<u32> {
            online.iter().map(|c| f(&shared.cpus[c.index()]) as u32).collect()
        };
        let v =
            |x: u8| move |h: &crate::hostcpu::HostCpu| h.counters.vectors[x as usize].load(Relaxed);
        if shared.arm64_rows.load(Relaxed) {
            // arch/arm64/kernel/smp.c `arch_show_interrupts`: the IPIs as IPI0..IPI6.
            let zero = |_: &crate::hostcpu::HostCpu| 0u64;
            let rows: [(Vec<u32>, &str); 7] = [
                (col(&v(RESCHEDULE_VECTOR)), "Rescheduling interrupts"),
                (col(&v(CALL_FUNCTION_VECTOR)), "Function call interrupts"),
                (col(&zero), "CPU stop interrupts"),
                (col(&zero), "CPU stop (for crash dump) interrupts"),
                (col(&zero), "Timer broadcast interrupts"),
                (col(&v(IRQ_WORK_VECTOR)), "IRQ work interrupts"),
                (col(&zero), "CPU wake-up interrupts"),
            ];
            for (n, (counts, desc)) in rows.iter().enumerate() {
                irqkit_core::irq::arch_row_ipi(out, n as u32, counts, prec, desc);
            }
            arch_row(out, "Err", &[0], prec, "");
            return;
        }
        let rows: [(&str, Vec<u32>, &str); 6] = [
            ("NMI", col(&|h| h.counters.nmis.load(Relaxed)), "Non-maskable interrupts"),
            ("LOC", col(&v(LOCAL_TIMER_VECTOR)), "Local timer interrupts"),
            ("SPU", col(&|h| h.counters.unhandled.load(Relaxed)), "Spurious interrupts"),
            ("RES", col(&v(RESCHEDULE_VECTOR)), "Rescheduling interrupts"),
            ("CAL", col(&v(CALL_FUNCTION_VECTOR)), "Function call interrupts"),
            ("IWI", col(&v(IRQ_WORK_VECTOR)), "IRQ work interrupts"),
        ];
        for (label, counts, desc) in rows {
            arch_row(out, label, &counts, prec, desc);
        }
        arch_row(out, "ERR", &[0], prec, "");
        arch_row(out, "MIS", &[0], prec, "");
        let _ = out.write_str("");
    }

    fn arch_irq_stat(&self) -> u64 {
        let Some(shared) = self.shared.upgrade() else { return 0 };
        shared
            .cpus
            .iter()
            .map(|h| {
                h.counters.nmis.load(Relaxed)
                    + [LOCAL_TIMER_VECTOR, RESCHEDULE_VECTOR, CALL_FUNCTION_VECTOR, IRQ_WORK_VECTOR]
                        .iter()
                        .map(|v| h.counters.vectors[*v as usize].load(Relaxed))
                        .sum::<u64>()
            })
            .sum()
    }
}
