//! `/proc/softirqs`, byte for byte in Linux's layout (fs/proc/softirqs.c).

use alloc::string::String;
use core::fmt::Write;

use super::SoftirqVec;
use crate::IrqSystem;

impl IrqSystem {
    /// The text of `/proc/softirqs`: one column per *possible* CPU, one row per vector.
    pub fn proc_softirqs(&self) -> String {
        let nr = self.nr_cpus();
        let mut s = String::with_capacity(32 + 11 * nr + SoftirqVec::ALL.len() * (13 + 11 * nr));
        s.push_str("                    ");
        for cpu in 0..nr {
            let _ = write!(s, "CPU{cpu:<8}");
        }
        s.push('\n');
        for vec in SoftirqVec::ALL {
            let _ = write!(s, "{:>12}:", vec.name());
            for (cpu, _) in self.softirq.cpus.iter() {
                let _ = write!(s, " {:>10}", self.softirq_count(cpu, vec));
            }
            s.push('\n');
        }
        s
    }
}
