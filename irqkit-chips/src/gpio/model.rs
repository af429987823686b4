//! GPIO controller model: pin inputs, edge latches, level detection and the one
//! upstream output line, notified on change after the lock is dropped.

use alloc::sync::Arc;

use irqkit_core::sync::SpinLock;
use irqkit_core::IrqError;

use super::*;
use crate::mmio::{CpuView, MmioError, MmioFrame, Width};

/// Called with the new level of the upstream line.
pub type UpstreamLine = Arc<dyn Fn(bool) + Send + Sync>;

#[derive(Default)]
struct Regs {
    input: u32,
    enable: u32,
    edge: u32,
    polarity: u32,
    both: u32,
    latch: u32,
    out: bool,
}

impl Regs {
    fn status(&self) -> u32 {
        let high_active = self.input & self.polarity;
        let low_active = !self.input & !self.polarity;
        let level = (high_active | low_active) & !self.edge;
        self.latch | level
    }
}

/// A GPIO interrupt controller with `pins` inputs.
pub struct GpioController {
    regs: SpinLock<Regs>,
    pins: u32,
    upstream: SpinLock<Option<UpstreamLine>>,
}

impl GpioController {
    /// A controller with 1–32 pins, everything masked.
    pub fn new(pins: u32) -> Result<Self, IrqError> {
        if pins == 0 || pins > 32 {
            return Err(IrqError::InvalidArgument("GPIO pin count"));
        }
        Ok(GpioController {
            regs: SpinLock::new(Regs::default()),
            pins,
            upstream: SpinLock::new(None),
        })
    }

    fn valid_mask(&self) -> u32 {
        if self.pins == 32 {
            !0
        } else {
            (1 << self.pins) - 1
        }
    }

    /// Connects the upstream line (e.g. `move |l| gic.set_line(spi, l)`).
    pub fn connect(&self, line: UpstreamLine) {
        *self.upstream.lock() = Some(line);
    }

    /// Whether the upstream line is asserted.
    pub fn upstream_level(&self) -> bool {
        self.regs.lock().out
    }

    fn with<R>(&self, f: impl FnOnce(&mut Regs) -> R) -> R {
        let (r, changed) = {
            let mut g = self.regs.lock();
            let r = f(&mut g);
            let out = g.status() & g.enable != 0;
            let changed = (out != g.out).then_some(out);
            g.out = out;
            (r, changed)
        };
        if let Some(level) = changed {
            let up = self.upstream.lock().clone();
            if let Some(up) = up {
                up(level);
            }
        }
        r
    }

    /// Drives the input of `pin`.
    pub fn set_pin(&self, pin: u32, level: bool) -> Result<(), IrqError> {
        if pin >= self.pins {
            return Err(IrqError::InvalidArgument("GPIO pin"));
        }
        self.with(|g| {
            let m = 1 << pin;
            let was = g.input & m != 0;
            if level {
                g.input |= m;
            } else {
                g.input &= !m;
            }
            if was != level && g.edge & m != 0 {
                let rising = level;
                let wanted = g.both & m != 0 || (g.polarity & m != 0) == rising;
                if wanted {
                    g.latch |= m;
                }
            }
        });
        Ok(())
    }

    /// The register frame.
    pub fn mmio_view(&self) -> CpuView<GpioFrame<'_>> {
        CpuView::new(GpioFrame(self), 0)
    }
}

/// The GPIO controller's register frame.
#[derive(Clone, Copy)]
pub struct GpioFrame<'a>(&'a GpioController);

fn check(off: usize, w: Width) -> Result<(), MmioError> {
    if off >= 0x20 {
        return Err(MmioError::OutOfRange { offset: off });
    }
    if w != Width::W32 || !off.is_multiple_of(4) {
        return Err(MmioError::BadWidth { offset: off, width: w });
    }
    Ok(())
}

impl MmioFrame for GpioFrame<'_> {
    fn frame_read(&self, _cpu: u32, off: usize, w: Width) -> Result<u64, MmioError> {
        check(off, w)?;
        let g = self.0.regs.lock();
        Ok(match off {
            GPIO_DATA_IN => g.input,
            GPIO_IRQ_ENABLE => g.enable,
            GPIO_IRQ_TYPE => g.edge,
            GPIO_IRQ_POLARITY => g.polarity,
            GPIO_IRQ_BOTH => g.both,
            GPIO_IRQ_STATUS => g.status() & self.0.valid_mask(),
            GPIO_IRQ_MASKED_STATUS => g.status() & g.enable,
            _ => 0,
        } as u64)
    }

    fn frame_write(&self, _cpu: u32, off: usize, w: Width, val: u64) -> Result<(), MmioError> {
        check(off, w)?;
        let v = val as u32 & self.0.valid_mask();
        self.0.with(|g| match off {
            GPIO_IRQ_ENABLE => g.enable = v,
            GPIO_IRQ_TYPE => {
                g.edge = v;
                g.latch &= v; // a pin turned level has no latch
            }
            GPIO_IRQ_POLARITY => g.polarity = v,
            GPIO_IRQ_BOTH => g.both = v,
            GPIO_IRQ_ACK => g.latch &= !v,
            _ => {}
        });
        Ok(())
    }
}
