//! Affinity scopes of unbound workqueues (kernel/workqueue.c `wq_pod_types`,
//! `init_pod_type`, `wq_affn_names`): the CPU topology and how a scope splits the
//! CPUs into pods.
//!
//! An unbound workqueue gets one worker pool per pod of its scope and queues a work
//! to the pool of the queueing CPU's pod, so the work stays near the data the
//! queueing CPU touched: `cpu` (one pod per CPU), `smt` (SMT siblings), `cache`
//! (CPUs sharing a last-level cache), `cache_shard` (an LLC cut into shards of at
//! most `cache_shard_size` cores, so a huge LLC does not become one hot pool),
//! `numa` (a node) and `system` (one pod). The platform describes the topology
//! ([`CpuTopology`]); without a description every CPU is its own core and all share
//! one LLC and one node.

use alloc::vec::Vec;

use crate::cpu::{CpuId, CpuMask};
use crate::IrqError;

/// `workqueue.cache_shard_size` default: cores per `cache_shard` pod.
pub const WQ_CACHE_SHARD_SIZE_DFL: usize = 8;

/// Where one CPU sits: its core (SMT siblings share it), last-level cache and node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTopo {
    /// Core id: CPUs with the same core id are SMT siblings.
    pub core: u32,
    /// Last-level-cache id.
    pub llc: u32,
    /// NUMA node id.
    pub node: u32,
}

/// The machine's CPU topology, one entry per possible CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuTopology {
    /// Entry `i` describes CPU `i`.
    pub cpus: Vec<CpuTopo>,
}

impl CpuTopology {
    /// The default: one CPU per core, one LLC, one node.
    pub fn flat(nr_cpus: usize) -> Self {
        CpuTopology {
            cpus: (0..nr_cpus).map(|c| CpuTopo { core: c as u32, llc: 0, node: 0 }).collect(),
        }
    }

    /// `InvalidArgument` unless it describes exactly `nr_cpus` CPUs.
    pub fn validate(&self, nr_cpus: usize) -> Result<(), IrqError> {
        if self.cpus.len() != nr_cpus {
            return Err(IrqError::InvalidArgument("topology must describe every possible cpu"));
        }
        Ok(())
    }
}

/// An unbound workqueue's affinity scope (`enum wq_affn_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffinityScope {
    /// Follow the system-wide default (`workqueue.default_affinity_scope`).
    Default,
    /// One pod per CPU.
    Cpu,
    /// SMT siblings.
    Smt,
    /// CPUs sharing a last-level cache.
    Cache,
    /// An LLC split into shards of at most `cache_shard_size` cores.
    CacheShard,
    /// A NUMA node.
    Numa,
    /// All CPUs: one pod.
    System,
}

impl AffinityScope {
    /// Every scope, in Linux's `wq_affn_names` order.
    pub const ALL: [AffinityScope; 7] = [
        AffinityScope::Default,
        AffinityScope::Cpu,
        AffinityScope::Smt,
        AffinityScope::Cache,
        AffinityScope::CacheShard,
        AffinityScope::Numa,
        AffinityScope::System,
    ];

    /// The sysfs name (`default`, `cpu`, `smt`, `cache`, `cache_shard`, `numa`, `system`).
    pub fn name(self) -> &'static str {
        match self {
            AffinityScope::Default => "default",
            AffinityScope::Cpu => "cpu",
            AffinityScope::Smt => "smt",
            AffinityScope::Cache => "cache",
            AffinityScope::CacheShard => "cache_shard",
            AffinityScope::Numa => "numa",
            AffinityScope::System => "system",
        }
    }

    /// Parses a sysfs name; `InvalidArgument` for anything else.
    pub fn parse(name: &str) -> Result<Self, IrqError> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name.trim())
            .ok_or(IrqError::InvalidArgument("unknown affinity scope"))
    }
}

/// Splits the CPUs of `topo` into the pods of `scope` (not `Default`: resolve it
/// first). Pods are disjoint, cover every CPU, and come in order of their first CPU.
pub(crate) fn pods(topo: &CpuTopology, scope: AffinityScope, shard_size: usize) -> Vec<CpuMask> {
    let n = topo.cpus.len();
    // The key that puts two CPUs in the same pod.
    let key = |c: usize| -> (u32, u32) {
        let t = topo.cpus[c];
        match scope {
            AffinityScope::Cpu => (c as u32, 0),
            AffinityScope::Smt => (t.core, 0),
            AffinityScope::Cache | AffinityScope::Default => (t.llc, 0),
            AffinityScope::CacheShard => (t.llc, shard_of(topo, c, shard_size)),
            AffinityScope::Numa => (t.node, 0),
            AffinityScope::System => (0, 0),
        }
    };
    let mut keys: Vec<(u32, u32)> = Vec::new();
    let mut out: Vec<CpuMask> = Vec::new();
    for c in 0..n {
        let k = key(c);
        let i = match keys.iter().position(|x| *x == k) {
            Some(i) => i,
            None => {
                keys.push(k);
                out.push(CpuMask::new());
                keys.len() - 1
            }
        };
        out[i].set(CpuId(c as u32));
    }
    out
}

/// The shard of CPU `c` within its LLC: its core's index among the LLC's cores (in
/// order of first CPU) divided by `shard_size`, so SMT siblings stay together.
fn shard_of(topo: &CpuTopology, c: usize, shard_size: usize) -> u32 {
    let me = topo.cpus[c];
    let mut cores: Vec<u32> = Vec::new();
    for t in topo.cpus.iter().filter(|t| t.llc == me.llc) {
        if !cores.contains(&t.core) {
            cores.push(t.core);
        }
    }
    let idx = cores.iter().position(|x| *x == me.core).unwrap_or(0);
    (idx / shard_size.max(1)) as u32
}

// Plain unit tests: loom's atomics only work inside a loom model.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn masks(p: &[CpuMask]) -> Vec<Vec<u32>> {
        p.iter().map(|m| m.iter().map(|c| c.0).collect()).collect()
    }

    /// 8 CPUs: SMT pairs (0,1) (2,3) ..., two LLCs of four CPUs, two nodes.
    fn smt_two_llc() -> CpuTopology {
        CpuTopology {
            cpus: (0..8u32).map(|c| CpuTopo { core: c / 2, llc: c / 4, node: c / 4 }).collect(),
        }
    }

    // kernel/workqueue.c init_pod_type: each scope partitions the CPUs into pods.
    #[test]
    fn scopes_split_the_cpus_into_pods() {
        let t = smt_two_llc();
        assert_eq!(masks(&pods(&t, AffinityScope::Cpu, 8)).len(), 8);
        assert_eq!(masks(&pods(&t, AffinityScope::Smt, 8))[1], [2, 3]);
        assert_eq!(masks(&pods(&t, AffinityScope::Cache, 8)), [[0, 1, 2, 3], [4, 5, 6, 7]]);
        assert_eq!(masks(&pods(&t, AffinityScope::Numa, 8)), [[0, 1, 2, 3], [4, 5, 6, 7]]);
        assert_eq!(masks(&pods(&t, AffinityScope::System, 8)), [[0, 1, 2, 3, 4, 5, 6, 7]]);
        // Shards of one core keep SMT siblings together.
        assert_eq!(masks(&pods(&t, AffinityScope::CacheShard, 1))[0], [0, 1]);
        assert_eq!(pods(&t, AffinityScope::CacheShard, 8).len(), 2, "shard = whole LLC");
    }

    // kernel/workqueue.c wq_cache_shard_size: a flat 20-CPU LLC becomes shards of 8.
    #[test]
    fn cache_shard_cuts_a_large_llc() {
        let p = pods(&CpuTopology::flat(20), AffinityScope::CacheShard, WQ_CACHE_SHARD_SIZE_DFL);
        assert_eq!(p.iter().map(|m| m.weight()).collect::<Vec<_>>(), [8, 8, 4]);
    }

    #[test]
    fn bad_input_scope_names_and_topologies() {
        for s in AffinityScope::ALL {
            assert_eq!(AffinityScope::parse(s.name()), Ok(s));
        }
        assert!(matches!(AffinityScope::parse("llc"), Err(IrqError::InvalidArgument(_))));
        assert!(CpuTopology::flat(3).validate(4).is_err());
        assert!(CpuTopology::flat(4).validate(4).is_ok());
        let cfg = crate::system::SystemConfig {
            nr_cpus: 2,
            topology: Some(CpuTopology::flat(3)),
            ..Default::default()
        };
        let p = alloc::sync::Arc::new(crate::testing::FakePlatform::default());
        assert!(matches!(crate::IrqSystem::new(cfg, p), Err(IrqError::InvalidArgument(_))));
    }
}
