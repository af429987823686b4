//! The ten softirq vectors, in Linux's priority order, with their Linux names.

use core::fmt;

/// Number of softirq vectors (`NR_SOFTIRQS`).
pub const NR_SOFTIRQS: usize = 10;

/// A softirq vector, in Linux's order; a lower number runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum SoftirqVec {
    /// High-priority tasklets (`HI_SOFTIRQ`).
    Hi = 0,
    /// Timer wheel expiry (`TIMER_SOFTIRQ`).
    Timer = 1,
    /// Network transmit completion (`NET_TX_SOFTIRQ`).
    NetTx = 2,
    /// Network receive (`NET_RX_SOFTIRQ`).
    NetRx = 3,
    /// Block-layer completion (`BLOCK_SOFTIRQ`).
    Block = 4,
    /// irq_poll (`IRQ_POLL_SOFTIRQ`).
    IrqPoll = 5,
    /// Normal tasklets (`TASKLET_SOFTIRQ`).
    Tasklet = 6,
    /// Scheduler load balancing (`SCHED_SOFTIRQ`).
    Sched = 7,
    /// High-resolution timers (`HRTIMER_SOFTIRQ`).
    Hrtimer = 8,
    /// RCU callbacks (`RCU_SOFTIRQ`).
    Rcu = 9,
}

impl SoftirqVec {
    /// Every vector in priority order.
    pub const ALL: [SoftirqVec; NR_SOFTIRQS] = [
        SoftirqVec::Hi,
        SoftirqVec::Timer,
        SoftirqVec::NetTx,
        SoftirqVec::NetRx,
        SoftirqVec::Block,
        SoftirqVec::IrqPoll,
        SoftirqVec::Tasklet,
        SoftirqVec::Sched,
        SoftirqVec::Hrtimer,
        SoftirqVec::Rcu,
    ];

    /// The vector number (its bit in the pending mask).
    #[inline]
    pub const fn nr(self) -> usize {
        self as usize
    }

    /// The vector with number `nr`, if it exists.
    pub fn from_nr(nr: usize) -> Option<SoftirqVec> {
        SoftirqVec::ALL.get(nr).copied()
    }

    /// Linux's name (`softirq_to_name`), as `/proc/softirqs` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            SoftirqVec::Hi => "HI",
            SoftirqVec::Timer => "TIMER",
            SoftirqVec::NetTx => "NET_TX",
            SoftirqVec::NetRx => "NET_RX",
            SoftirqVec::Block => "BLOCK",
            SoftirqVec::IrqPoll => "IRQ_POLL",
            SoftirqVec::Tasklet => "TASKLET",
            SoftirqVec::Sched => "SCHED",
            SoftirqVec::Hrtimer => "HRTIMER",
            SoftirqVec::Rcu => "RCU",
        }
    }
}

impl fmt::Display for SoftirqVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
