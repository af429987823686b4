//! ITS register frames: GITS_CTLR, IIDR, TYPER, CBASER, CWRITER, CREADR, BASERn in the
//! control frame and GITS_TRANSLATER in the translation frame (spec 7.5). Writing
//! CWRITER (or enabling the ITS) runs the queued commands.

use super::its::*;
use super::its_cmd;
use crate::mmio::{check_aligned, MmioError, MmioFrame, Width};

const FRAME: usize = 0x20000;

fn check(off: usize, w: Width) -> Result<(), MmioError> {
    if off >= FRAME {
        return Err(MmioError::OutOfRange { offset: off });
    }
    check_aligned(off, w)?;
    let ok = match w {
        Width::W32 => true,
        Width::W64 => (0x08..0x10).contains(&off) || (0x80..0x140).contains(&off),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(MmioError::BadWidth { offset: off, width: w })
    }
}

fn half(w: Width, off: usize, v: u64) -> u64 {
    match (w, off % 8) {
        (Width::W64, _) => v,
        (_, 0) => v & 0xFFFF_FFFF,
        _ => v >> 32,
    }
}

fn merge(w: Width, off: usize, old: u64, v: u64) -> u64 {
    match (w, off % 8) {
        (Width::W64, _) => v,
        (_, 0) => (old & !0xFFFF_FFFF) | (v & 0xFFFF_FFFF),
        _ => (old & 0xFFFF_FFFF) | (v << 32),
    }
}

impl MmioFrame for ItsFrame<'_> {
    fn frame_read(&self, _req: u32, off: usize, w: Width) -> Result<u64, MmioError> {
        check(off, w)?;
        let Some(its) = self.0.its.as_ref() else { return Ok(0) };
        let st = its.st.lock();
        let typer = 1
            | ((ITS_ITT_ENTRY_SIZE - 1) as u64) << 4
            | ((st.id_bits - 1) as u64) << 8
            | ((st.dev_bits - 1) as u64) << 13
            | ((ITS_COLLECTIONS - 1).min(255) as u64) << 24;
        Ok(match off & !7 {
            GITS_CTLR if off == GITS_CTLR => {
                st.enabled as u64
                    | if st.cwriter == st.creadr { GITS_CTLR_QUIESCENT as u64 } else { 0 }
            }
            GITS_CTLR => 0x0300_043B, // IIDR
            GITS_TYPER => half(w, off, typer),
            GITS_CBASER => half(w, off, st.cbaser),
            GITS_CWRITER => half(w, off, st.cwriter),
            GITS_CREADR => half(w, off, st.creadr),
            o @ 0x100..=0x138 => half(w, off, st.baser[(o - 0x100) / 8]),
            0xFFE8 => 0x3B,
            _ => 0,
        })
    }

    fn frame_write(&self, req: u32, off: usize, w: Width, val: u64) -> Result<(), MmioError> {
        check(off, w)?;
        let Some(its) = self.0.its.as_ref() else { return Ok(()) };
        if off == GITS_TRANSLATER {
            let _ = self.0.its_msi(req, val as u32);
            return Ok(());
        }
        let mut st = its.st.lock();
        let mut kick = false;
        match off & !7 {
            GITS_CTLR if off == GITS_CTLR => {
                st.enabled = val & GITS_CTLR_ENABLED as u64 != 0;
                kick = st.enabled;
            }
            GITS_CBASER if !st.enabled => {
                st.cbaser = merge(w, off, st.cbaser, val);
                st.creadr = 0;
                st.cwriter = 0;
            }
            GITS_CWRITER => {
                st.cwriter = merge(w, off, st.cwriter, val) & 0xF_FFE0;
                kick = true;
            }
            o @ 0x100..=0x138 if !st.enabled => {
                let i = (o - 0x100) / 8;
                st.baser[i] = merge(w, off, st.baser[i], val);
            }
            _ => {}
        }
        if kick {
            its_cmd::process_queue(self.0, &mut st);
        }
        Ok(())
    }
}
