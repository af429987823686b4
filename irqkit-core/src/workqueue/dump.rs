//! `wq_dump` / `wq_monitor`-style text: pools, workers, pool_workqueues, counters.

use alloc::string::String;
use core::fmt::Write;

use super::worker::{WORKER_CPU_INTENSIVE, WORKER_IDLE};
use crate::sync::atomic::Ordering;
use crate::IrqSystem;

impl IrqSystem {
    /// A text view like `tools/workqueue/wq_dump.py` plus `wq_monitor.py` columns.
    pub fn wq_dump(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "Worker Pools");
        for pool in self.wq.all_pools(self) {
            let g = pool.lock(self);
            let cpu = match pool.cpu {
                Some(c) => alloc::format!(
                    "cpu {:3}{}{}",
                    c.0,
                    super::bh::describe(&pool).unwrap_or_default(),
                    if g.disassociated { " disassociated" } else { "" }
                ),
                None => alloc::format!(
                    "unbound pod {}{}",
                    pool.pod.to_list_string(),
                    if pool.strict { " strict" } else { "" }
                ),
            };
            let _ = writeln!(
                o,
                "pool[{:02}] {} nice {:3} workers {} idle {} nr_running {} worklist {} created {} reaped {} idle_timer {}",
                pool.id,
                cpu,
                pool.nice(),
                g.workers.len(),
                g.idle.len(),
                g.nr_running,
                g.worklist.len(),
                pool.nr_created.load(Ordering::Relaxed),
                pool.nr_reaped.load(Ordering::Relaxed),
                if pool.idle_timer.pending() {
                    alloc::format!("at {} (now {})", pool.idle_timer.expires(), self.jiffies())
                } else {
                    String::from("off")
                },
            );
            for s in g.workers.iter() {
                let f = s.worker.flags();
                let state = if f & WORKER_IDLE != 0 {
                    "idle"
                } else if s.worker.is_sleeping() {
                    "sleeping"
                } else if f & WORKER_CPU_INTENSIVE != 0 {
                    "cpu-intensive"
                } else {
                    "busy"
                };
                let desc = match (&s.current, &s.last_wq) {
                    (Some(c), _) => {
                        alloc::format!("+{} work {:#x}", c.wq.get(&g).name, c.work.addr())
                    }
                    (None, Some(w)) => alloc::format!("-{}", w.name),
                    _ => String::new(),
                };
                let _ = writeln!(o, "    {} {} {}", s.worker.name, state, desc);
            }
        }
        let _ = writeln!(o, "Workqueues");
        let wqs = self.wq.registry.lock_irqsave(self).clone();
        let _ = writeln!(o, "Default affinity scope: {}", self.wq_default_affinity_scope().name());
        for wq in wqs.iter() {
            let st = &wq.stats;
            let (started, completed) = super::Workqueue(wq.clone()).started_completed(self);
            let _ = writeln!(
                o,
                "{:<24} flags {:#06x} max_active {:4} started {} completed {} cpu_ms {} cpu_intensive {} cm_wakeups {} mayday {} rescued {} panicked {}",
                wq.name,
                wq.flags,
                wq.max_active(),
                started,
                completed,
                st.cpu_time_ns.load(Ordering::Relaxed) / 1_000_000,
                st.cpu_intensive.load(Ordering::Relaxed),
                st.cm_wakeups.load(Ordering::Relaxed),
                st.mayday.load(Ordering::Relaxed),
                st.rescued.load(Ordering::Relaxed),
                st.panicked.load(Ordering::Relaxed),
            );
            if let Some(a) = self.workqueue_attrs(&super::Workqueue(wq.clone())) {
                let pods: alloc::vec::Vec<String> =
                    a.pods.iter().map(|m| m.to_list_string()).collect();
                let _ = writeln!(
                    o,
                    "    affinity_scope {}{} affinity_strict {} pods [{}]",
                    a.scope.name(),
                    if a.scope == super::AffinityScope::Default {
                        alloc::format!(" ({})", a.effective_scope.name())
                    } else {
                        String::new()
                    },
                    a.strict as u8,
                    pods.join("] [")
                );
            }
            if !wq.is_percpu() {
                let mut line = String::from("    node_nr_active");
                for (node, active, max) in
                    self.workqueue_node_nr_active(&super::Workqueue(wq.clone()))
                {
                    let _ = match node {
                        Some(n) => write!(line, " node{n} {active}/{max}"),
                        None => write!(line, " dfl {active}/{max}"),
                    };
                }
                let _ = writeln!(o, "{line}");
            }
            for pool in wq.all_pools(self).iter() {
                if let Some((a, i)) = pool.lock(self).pwq_counts(wq.id) {
                    if a > 0 || i > 0 {
                        let _ = writeln!(o, "    pwq pool[{:02}] active {a} inactive {i}", pool.id);
                    }
                }
            }
        }
        o
    }
}
