//! `VectorChip`: the hosted machine's interrupt controller for device lines — each
//! Linux irq gets a vector on its effective-affinity CPU, as x86's vector domain does.
//!
//! Masking is modelled like a level-sensitive input: a raise that finds the line
//! masked is latched and delivered when the line is unmasked, so ONESHOT and lazy
//! disable lose nothing.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Weak};

use irqkit_core::cpu::CpuMask;
use irqkit_core::irq::{ChipCallbacks, IrqChip, IrqData, SetResult};
use irqkit_core::{CpuId, IrqError, IrqSystem};

use crate::shared::Shared;

/// Per-line state: vector, target CPU, mask and latch. Lock-free, because chip
/// callbacks run in hard-irq context on any CPU.
pub(crate) struct VectorLine {
    pub(crate) vector: u8,
    target: AtomicU32,
    masked: AtomicBool,
    latched: AtomicBool,
}

impl VectorLine {
    pub(crate) fn new(vector: u8, target: CpuId) -> Arc<Self> {
        Arc::new(VectorLine {
            vector,
            target: AtomicU32::new(target.0),
            masked: AtomicBool::new(true),
            latched: AtomicBool::new(false),
        })
    }

    /// The CPU this line interrupts.
    pub(crate) fn target(&self) -> CpuId {
        CpuId(self.target.load(SeqCst))
    }
}

/// The controller: raises vectors through the machine's delivery path.
pub(crate) struct VectorChip {
    sys: Weak<IrqSystem>,
    shared: Weak<Shared>,
}

impl VectorChip {
    pub(crate) fn new(sys: &Arc<IrqSystem>, shared: &Arc<Shared>) -> Arc<Self> {
        Arc::new(VectorChip { sys: Arc::downgrade(sys), shared: Arc::downgrade(shared) })
    }

    fn line(d: &IrqData) -> Option<&VectorLine> {
        d.chip_data.as_ref().and_then(|c| (&**c as &dyn Any).downcast_ref::<VectorLine>())
    }

    /// A device asserts `line`: deliver now, or latch while masked.
    pub(crate) fn raise(&self, line: &VectorLine) -> Result<(), IrqError> {
        if line.masked.load(SeqCst) {
            line.latched.store(true, SeqCst);
            // Unmasked meanwhile? Then deliver what we latched.
            if line.masked.load(SeqCst) || !line.latched.swap(false, SeqCst) {
                return Ok(());
            }
        }
        self.deliver(line)
    }

    fn deliver(&self, line: &VectorLine) -> Result<(), IrqError> {
        let (Some(sys), Some(shared)) = (self.sys.upgrade(), self.shared.upgrade()) else {
            return Err(IrqError::Shutdown);
        };
        shared.raise(&sys, line.target(), line.vector)
    }
}

impl IrqChip for VectorChip {
    fn name(&self) -> &str {
        "HOST-APIC"
    }

    fn callbacks(&self) -> ChipCallbacks {
        ChipCallbacks::MASK
            | ChipCallbacks::UNMASK
            | ChipCallbacks::ACK
            | ChipCallbacks::EOI
            | ChipCallbacks::SET_AFFINITY
    }

    fn mask(&self, d: &IrqData) {
        if let Some(l) = Self::line(d) {
            l.masked.store(true, SeqCst);
        }
    }

    fn unmask(&self, d: &IrqData) {
        if let Some(l) = Self::line(d) {
            l.masked.store(false, SeqCst);
            if l.latched.swap(false, SeqCst) {
                let _ = self.deliver(l);
            }
        }
    }

    fn set_affinity(
        &self,
        d: &IrqData,
        mask: &CpuMask,
        _force: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        let sys = self.sys.upgrade().ok_or(IrqError::Shutdown)?;
        let cpu = mask
            .and(&sys.online_mask())
            .first()
            .ok_or(IrqError::InvalidArgument("affinity mask has no online cpu"))?;
        if let Some(l) = Self::line(d) {
            l.target.store(cpu.0, SeqCst);
        }
        Ok((SetResult::Ok, CpuMask::single(cpu)))
    }
}
