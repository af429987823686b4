//! ITS command queue: decoding of the 32-byte commands (spec 7.5) and their execution
//! against the ITS tables and the redistributors.
//!
//! Each command either completes or is skipped with an architectural error code
//! (`0x01_<opcode>_<cause>`, e.g. INT on an unmapped interrupt = 0x010307); the queue
//! never stalls on bad parameters, as in QEMU. Processing is bounded by the queue size
//! per kick.

use super::its::{Ite, ItsDevice, ItsFault, ItsState, GITS_CBASER_VALID, GITS_CREADR_STALLED};
use super::lpi::FIRST_LPI;
use super::v3::GicV3;
use super::v3_redist::{reload_lpi_config, set_lpi_pending};

/// ITS command opcodes.
pub mod opcode {
    /// MOVI.
    pub const MOVI: u8 = 0x01;
    /// INT.
    pub const INT: u8 = 0x03;
    /// CLEAR.
    pub const CLEAR: u8 = 0x04;
    /// SYNC.
    pub const SYNC: u8 = 0x05;
    /// MAPD.
    pub const MAPD: u8 = 0x08;
    /// MAPC.
    pub const MAPC: u8 = 0x09;
    /// MAPTI.
    pub const MAPTI: u8 = 0x0A;
    /// MAPI.
    pub const MAPI: u8 = 0x0B;
    /// INV.
    pub const INV: u8 = 0x0C;
    /// INVALL.
    pub const INVALL: u8 = 0x0D;
    /// MOVALL.
    pub const MOVALL: u8 = 0x0E;
    /// DISCARD.
    pub const DISCARD: u8 = 0x0F;
}

/// Error cause: DeviceID out of range.
pub const CAUSE_DEVICE_OOR: u32 = 0x01;
/// Error cause: ITT size / RDbase out of range.
pub const CAUSE_SIZE_OOR: u32 = 0x02;
/// Error cause: collection out of range.
pub const CAUSE_COLLECTION_OOR: u32 = 0x03;
/// Error cause: device not mapped.
pub const CAUSE_UNMAPPED_DEVICE: u32 = 0x04;
/// Error cause: EventID out of range.
pub const CAUSE_ID_OOR: u32 = 0x05;
/// Error cause: physical INTID is not an implemented LPI.
pub const CAUSE_PHYSICAL_ID_OOR: u32 = 0x06;
/// Error cause: interrupt not mapped.
pub const CAUSE_UNMAPPED_INTERRUPT: u32 = 0x07;
/// Error cause: collection not mapped.
pub const CAUSE_UNMAPPED_COLLECTION: u32 = 0x09;

const PA_51_12: u64 = 0x000F_FFFF_FFFF_F000;
const RDBASE_MASK: u64 = (1 << 36) - 1;

/// Architectural error code for `op` failing with `cause`.
pub const fn its_error(op: u8, cause: u32) -> u32 {
    0x01_0000 | (op as u32) << 8 | cause
}

/// Runs commands from CREADR up to CWRITER.
pub(crate) fn process_queue(gic: &GicV3, st: &mut ItsState) {
    if !st.enabled || st.cbaser & GITS_CBASER_VALID == 0 || st.creadr & GITS_CREADR_STALLED != 0 {
        return;
    }
    let size = ((st.cbaser & 0xFF) + 1) * 4096;
    let base = st.cbaser & PA_51_12;
    if st.cwriter >= size {
        st.creadr |= GITS_CREADR_STALLED;
        return;
    }
    let mut budget = size / 32;
    while st.creadr != st.cwriter && budget > 0 {
        budget -= 1;
        let mut raw = [0u8; 32];
        gic.mem.read(base + st.creadr, &mut raw);
        let mut cmd = [0u64; 4];
        for (i, c) in cmd.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[i * 8..i * 8 + 8]);
            *c = u64::from_le_bytes(b);
        }
        if let Err(code) = execute(gic, st, &cmd) {
            st.last_error = Some(code);
            st.errors += 1;
        }
        st.creadr = (st.creadr + 32) % size;
    }
}

fn fault(op: u8, f: ItsFault) -> u32 {
    its_error(
        op,
        match f {
            ItsFault::UnmappedDevice => CAUSE_UNMAPPED_DEVICE,
            ItsFault::UnmappedCollection => CAUSE_UNMAPPED_COLLECTION,
            _ => CAUSE_UNMAPPED_INTERRUPT,
        },
    )
}

/// Executes one command; `Err` carries the architectural error code.
pub(crate) fn execute(gic: &GicV3, st: &mut ItsState, c: &[u64; 4]) -> Result<(), u32> {
    let op = (c[0] & 0xFF) as u8;
    let dev = (c[0] >> 32) as u32;
    let event = c[1] as u32;
    let pintid = (c[1] >> 32) as u32;
    let icid = (c[2] & 0xFFFF) as u32;
    let valid = c[2] >> 63 != 0;
    let err = |cause| its_error(op, cause);
    let dev_ok = (dev as u64) < (1u64 << st.dev_bits);
    match op {
        opcode::MAPD => {
            let size = (c[1] & 0x1F) as u8;
            if !dev_ok {
                return Err(err(CAUSE_DEVICE_OOR));
            }
            if size + 1 > st.id_bits {
                return Err(err(CAUSE_SIZE_OOR));
            }
            if st.devices.len() <= dev as usize {
                st.devices.resize_with(dev as usize + 1, || None);
            }
            st.devices[dev as usize] =
                valid.then(|| ItsDevice { event_bits: size + 1, ites: alloc::vec::Vec::new() });
        }
        opcode::MAPC => {
            let rd = (c[2] >> 16) & RDBASE_MASK;
            if icid as usize >= st.collections.len() {
                return Err(err(CAUSE_COLLECTION_OOR));
            }
            if valid && rd >= st.num_cpus as u64 {
                return Err(err(CAUSE_SIZE_OOR));
            }
            st.collections[icid as usize] = valid.then_some(rd as u32);
        }
        opcode::MAPTI | opcode::MAPI => {
            let pintid = if op == opcode::MAPI { event } else { pintid };
            if !dev_ok {
                return Err(err(CAUSE_DEVICE_OOR));
            }
            if icid as usize >= st.collections.len() {
                return Err(err(CAUSE_COLLECTION_OOR));
            }
            let id_bits = st.id_bits;
            let d = st.devices.get_mut(dev as usize).and_then(Option::as_mut);
            let d = d.ok_or(err(CAUSE_UNMAPPED_DEVICE))?;
            if (event as u64) >= (1u64 << d.event_bits) {
                return Err(err(CAUSE_ID_OOR));
            }
            if pintid < FIRST_LPI || (pintid as u64) >= (1u64 << id_bits) {
                return Err(err(CAUSE_PHYSICAL_ID_OOR));
            }
            if d.ites.len() <= event as usize {
                d.ites.resize(event as usize + 1, Ite::default());
            }
            d.ites[event as usize] = Ite { lpi: pintid, icid: icid as u16 };
        }
        opcode::INT | opcode::CLEAR | opcode::DISCARD | opcode::INV => {
            if !dev_ok {
                return Err(err(CAUSE_DEVICE_OOR));
            }
            let (lpi, cpu) = st.translate(dev, event).map_err(|f| fault(op, f))?;
            match op {
                opcode::INT => gic.with(|i| set_lpi_pending(i, cpu, lpi, true)),
                opcode::INV => gic.with(|i| reload_lpi_config(i, &gic.mem, cpu, Some(lpi))),
                _ => {
                    gic.with(|i| set_lpi_pending(i, cpu, lpi, false));
                    if op == opcode::DISCARD {
                        if let Some(Some(d)) = st.devices.get_mut(dev as usize) {
                            d.ites[event as usize] = Ite::default();
                        }
                    }
                }
            }
        }
        opcode::INVALL => {
            let cpu = st.collections.get(icid as usize).copied().flatten();
            let cpu = cpu.ok_or(err(CAUSE_UNMAPPED_COLLECTION))?;
            gic.with(|i| reload_lpi_config(i, &gic.mem, cpu, None));
        }
        opcode::MOVI => {
            let (lpi, old) = st.translate(dev, event).map_err(|f| fault(op, f))?;
            let new = st.collections.get(icid as usize).copied().flatten();
            let new = new.ok_or(err(CAUSE_UNMAPPED_COLLECTION))?;
            gic.with(|i| move_pending(i, lpi, old, new));
            if let Some(Some(d)) = st.devices.get_mut(dev as usize) {
                d.ites[event as usize].icid = icid as u16;
            }
        }
        opcode::MOVALL => {
            let from = ((c[2] >> 16) & RDBASE_MASK) as u32;
            let to = ((c[3] >> 16) & RDBASE_MASK) as u32;
            if from >= st.num_cpus || to >= st.num_cpus {
                return Err(err(CAUSE_SIZE_OOR));
            }
            if from != to {
                gic.with(|i| {
                    let mut moved = alloc::vec::Vec::new();
                    if let Some(l) = i.core.lpi.as_ref() {
                        l.rd[from as usize].for_each_pending(|x| moved.push(x as u32 + FIRST_LPI));
                    }
                    for lpi in moved {
                        move_pending(i, lpi, from, to);
                    }
                });
            }
        }
        opcode::SYNC => {}
        _ => {} // unknown opcodes are skipped, as QEMU does
    }
    Ok(())
}

fn move_pending(i: &mut super::v3::V3Inner, lpi: u32, from: u32, to: u32) {
    if from == to {
        return;
    }
    let Some(l) = i.core.lpi.as_mut() else { return };
    let Some(idx) = l.index(lpi) else { return };
    if l.rd.get(from as usize).is_some_and(|r| r.is_pending(idx)) {
        l.rd[from as usize].set_pending(idx, false);
        i.core.mark(super::core::cpu_bit(from));
        set_lpi_pending(i, to, lpi, true);
    }
}
