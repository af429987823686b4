//! The kernel's `IrqHooks`: the spurious poll timer, the resend tasklet and the x86
//! rows of `/proc/interrupts` (NMI, LOC, SPU, RES, CAL, IWI, ERR) from the per-CPU
//! vector counts.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use irqkit_core::cpu::CpuMask;
use irqkit_core::irq::{arch_row, IrqHooks};
use irqkit_core::tasklet::Tasklet;
use irqkit_core::timer::Timer;

use crate::lapic::{
    CALL_FUNCTION_VECTOR, ERROR_VECTOR, IRQ_WORK_VECTOR, RESCHEDULE_VECTOR, SPURIOUS_VECTOR,
    TIMER_VECTOR,
};
use crate::{percpu, platform};

/// Vector 2 is the NMI; its count lives in the same per-CPU table.
const NMI_VECTOR: u8 = 2;

/// The rows Linux's `arch_show_interrupts` prints, with the vector each counts.
const ROWS: [(&str, u8, &str); 6] = [
    ("NMI", NMI_VECTOR, "Non-maskable interrupts"),
    ("LOC", TIMER_VECTOR, "Local timer interrupts"),
    ("SPU", SPURIOUS_VECTOR, "Spurious interrupts"),
    ("RES", RESCHEDULE_VECTOR, "Rescheduling interrupts"),
    ("CAL", CALL_FUNCTION_VECTOR, "Function call interrupts"),
    ("IWI", IRQ_WORK_VECTOR, "IRQ work interrupts"),
];

/// Services the generic IRQ layer asks of the kernel.
pub struct KernelIrqHooks {
    poll: Timer,
    resend: Tasklet,
}

/// Installs the hooks on the system. Called once, before any line is requested.
pub fn install() {
    let sys = platform::system();
    let hooks = KernelIrqHooks {
        poll: Timer::new(|sys, _t, _ctx| sys.poll_spurious_irqs()),
        resend: Tasklet::new(|ctx| platform::system().irq_resend_run(ctx)),
    };
    sys.irq.set_hooks(Arc::new(hooks));
}

impl IrqHooks for KernelIrqHooks {
    fn arm_spurious_poll(&self, delay_ns: u64) {
        let sys = platform::system();
        let j = sys.jiffies() + (delay_ns * sys.config().hz as u64).div_ceil(1_000_000_000);
        self.poll.modify(sys, j.max(sys.jiffies() + 1));
    }

    fn schedule_resend(&self) {
        let _ = self.resend.schedule(platform::system());
    }

    fn arch_show_interrupts(&self, out: &mut String, online: &CpuMask, prec: usize) {
        for (label, vector, desc) in ROWS {
            let counts: Vec<u32> =
                online.iter().map(|c| percpu::area(c.index()).count(vector) as u32).collect();
            arch_row(out, label, &counts, prec, desc);
        }
        let err: u64 = online.iter().map(|c| percpu::area(c.index()).count(ERROR_VECTOR)).sum();
        arch_row(out, "ERR", &[err as u32], prec, "");
    }

    fn arch_irq_stat(&self) -> u64 {
        let sys = platform::system();
        (0..sys.nr_cpus())
            .map(|c| ROWS.iter().map(|r| percpu::area(c).count(r.1)).sum::<u64>())
            .sum()
    }
}
