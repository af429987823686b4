//! Conformance tests of the generic IRQ layer, each named after the Linux rule it
//! checks and citing the kernel file. A recording fake chip logs every callback.

mod action_list;
mod domain;
mod flow;
mod flow_eoi;
mod kunit;
mod line;
mod manage;
mod pm_hotplug;
mod proc;
mod spurious;
mod stress;
mod thread;

pub(super) use std::boxed::Box;
pub(super) use std::format;
pub(super) use std::string::{String, ToString};
pub(super) use std::sync::{Arc, Mutex};
pub(super) use std::vec::Vec;

pub(super) use super::*;
use crate::cpu::CpuState;
use crate::platform::{Ipi, Platform, ThreadBody};
use crate::sched::Thread;
pub(super) use crate::system::SystemConfig;
pub(super) use crate::testing::FakePlatform;
pub(super) use crate::{CpuId, CpuMask, IrqError, IrqSystem, Task};

/// A chip that records every callback by name.
pub(super) struct RecChip {
    pub log: Mutex<Vec<&'static str>>,
    pub cbs: ChipCallbacks,
    pub flags: ChipFlags,
    pub retrigger_ok: bool,
    pub name: &'static str,
}

impl RecChip {
    pub fn new(cbs: ChipCallbacks, flags: ChipFlags) -> Arc<Self> {
        Arc::new(RecChip {
            log: Mutex::new(Vec::new()),
            cbs,
            flags,
            retrigger_ok: false,
            name: "REC",
        })
    }
    /// mask, unmask, ack, eoi, set_type, set_affinity, set_wake.
    pub fn basic() -> Arc<Self> {
        Self::new(
            ChipCallbacks::MASK
                | ChipCallbacks::UNMASK
                | ChipCallbacks::ACK
                | ChipCallbacks::EOI
                | ChipCallbacks::SET_TYPE
                | ChipCallbacks::SET_AFFINITY
                | ChipCallbacks::SET_WAKE,
            ChipFlags::empty(),
        )
    }
    pub fn take(&self) -> Vec<&'static str> {
        core::mem::take(&mut *self.log.lock().unwrap())
    }
    fn rec(&self, s: &'static str) {
        self.log.lock().unwrap().push(s);
    }
}

impl IrqChip for RecChip {
    fn name(&self) -> &str {
        self.name
    }
    fn flags(&self) -> ChipFlags {
        self.flags
    }
    fn callbacks(&self) -> ChipCallbacks {
        self.cbs
    }
    fn mask(&self, _d: &IrqData) {
        self.rec("mask")
    }
    fn unmask(&self, _d: &IrqData) {
        self.rec("unmask")
    }
    fn ack(&self, _d: &IrqData) {
        self.rec("ack")
    }
    fn mask_ack(&self, _d: &IrqData) {
        self.rec("mask_ack")
    }
    fn eoi(&self, _d: &IrqData) {
        self.rec("eoi")
    }
    fn enable(&self, _d: &IrqData) {
        self.rec("enable")
    }
    fn disable(&self, _d: &IrqData) {
        self.rec("disable")
    }
    fn startup(&self, _d: &IrqData) {
        self.rec("startup")
    }
    fn shutdown(&self, _d: &IrqData) {
        self.rec("shutdown")
    }
    fn set_type(&self, _d: &IrqData, _t: Trigger) -> Result<SetResult, IrqError> {
        self.rec("set_type");
        Ok(SetResult::Ok)
    }
    fn set_affinity(
        &self,
        _d: &IrqData,
        m: &CpuMask,
        _f: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        self.rec("set_affinity");
        Ok((SetResult::Ok, CpuMask::single(m.first().unwrap_or_default())))
    }
    fn retrigger(&self, _d: &IrqData) -> bool {
        self.rec("retrigger");
        self.retrigger_ok
    }
    fn set_wake(&self, _d: &IrqData, _on: bool) -> Result<(), IrqError> {
        self.rec("set_wake");
        Ok(())
    }
}

/// FakePlatform that accepts kernel threads (never runs them): tests play the irq
/// threads with `irq_thread_run_once`.
#[derive(Default)]
pub(super) struct ThreadPlatform {
    inner: FakePlatform,
    pub spawned: Mutex<Vec<String>>,
}

impl Platform for ThreadPlatform {
    fn current_cpu(&self) -> Option<CpuId> {
        self.inner.current_cpu()
    }
    fn now_ns(&self) -> u64 {
        self.inner.now_ns()
    }
    fn send_ipi(&self, cpu: CpuId, ipi: Ipi) -> Result<(), IrqError> {
        self.inner.send_ipi(cpu, ipi)
    }
    fn replay_irqs(&self, cpu: &CpuState) {
        self.inner.replay_irqs(cpu)
    }
    fn spawn_thread(
        &self,
        t: &Arc<Thread>,
        _body: ThreadBody,
        _exit: ThreadBody,
    ) -> Result<(), IrqError> {
        self.spawned.lock().unwrap().push(t.name());
        Ok(())
    }
    fn switch_to(&self, _c: CpuId, _p: &Arc<Thread>, _n: &Arc<Thread>) {
        panic!("no switching in tests")
    }
    fn idle_wait(&self, _cpu: CpuId) {}
}

impl ThreadPlatform {
    pub fn set_now(&self, ns: u64) {
        self.inner.now.store(ns, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A system of `nr` online CPUs on a thread-accepting fake platform, caller on CPU 0.
pub(super) fn machine_cfg(cfg: SystemConfig) -> (Arc<IrqSystem>, Arc<ThreadPlatform>) {
    let p = Arc::new(ThreadPlatform::default());
    let sys = IrqSystem::new(cfg, p.clone()).unwrap();
    for c in sys.cpus() {
        c.set_online(true);
    }
    FakePlatform::enter_cpu(CpuId(0));
    (sys, p)
}

pub(super) fn machine(nr: usize) -> (Arc<IrqSystem>, Arc<ThreadPlatform>) {
    machine_cfg(SystemConfig { nr_cpus: nr, ..Default::default() })
}

/// Allocates a line with `chip` and `flow`.
pub(super) fn line(sys: &IrqSystem, chip: Arc<RecChip>, flow: FlowHandler) -> u32 {
    let irq = sys.irq_alloc_descs(1, 1, false).unwrap();
    sys.irq_set_chip_and_handler(irq, chip, flow).unwrap();
    irq
}

/// Delivers `irq` on the current CPU as the arch entry would.
pub(super) fn fire(sys: &IrqSystem, irq: u32) {
    let f = sys.local_irq_save();
    let h = sys.irq_enter();
    sys.generic_handle_irq(irq, &h).unwrap();
    sys.irq_exit(h);
    sys.local_irq_restore(f);
}

/// A counter handler returning `ret`.
pub(super) fn counting(
    ret: IrqReturn,
) -> (
    Arc<std::sync::atomic::AtomicU32>,
    impl Fn(&crate::HardIrq) -> IrqReturn + Send + Sync + 'static,
) {
    let n = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let n2 = n.clone();
    (n, move |_: &crate::HardIrq| {
        n2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ret
    })
}

pub(super) fn task() -> Task {
    Task::entered()
}
